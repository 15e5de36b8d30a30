"""What a simulate run was asked to do, checked once with messages that say how to fix it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from models.patterns import DEFAULT_PATTERNS, PATTERN_NAMES, Pattern

MAX_RATE = 100_000.0
MAX_USERS = 1_000_000
MAX_LABEL_DELAY_S = 86_400.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_WITH_UNITS = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_HELP = "a number of seconds or a duration such as 20, 20s, 5m, 1h or 1m30s"


class OptionError(ValueError):
    """A flag value that cannot be used; the message names the flag and the fix."""


def parse_duration(text: str) -> float:
    """Seconds in `text`: `20`, `20s`, `1.5m`, `1h`, `1m30s`, `500ms`."""
    cleaned = text.strip().lower().replace(" ", "")
    if _PLAIN_NUMBER.fullmatch(cleaned):
        total = float(cleaned)
    elif _WITH_UNITS.fullmatch(cleaned):
        total = sum(
            float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(cleaned)
        )
    else:
        raise OptionError(f"--duration {text!r} is not a duration: use {DURATION_HELP}")
    if not math.isfinite(total) or total <= 0:
        raise OptionError(f"--duration {text!r} must be longer than zero: use {DURATION_HELP}")
    return total


def parse_delay(text: str, flag: str = "--label-delay") -> float:
    """Seconds in `text` like `parse_duration`, but 0 (no delay) is allowed."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned in ("0", "0s", "0.0"):
        return 0.0
    try:
        seconds = parse_duration(cleaned)
    except OptionError:
        raise OptionError(f"{flag} {text!r} is not a delay: use 0 or {DURATION_HELP}") from None
    if seconds > MAX_LABEL_DELAY_S:
        raise OptionError(f"{flag} {text!r} is longer than a day: use at most 24h")
    return seconds


def select_patterns(names: Iterable[str]) -> tuple[Pattern, ...]:
    """The patterns named (comma-separated or repeated); all of them when none is named."""
    wanted = [part.strip().lower() for name in names for part in name.split(",") if part.strip()]
    if not wanted:
        return DEFAULT_PATTERNS
    unknown = sorted(set(wanted) - set(PATTERN_NAMES))
    if unknown:
        raise OptionError(
            f"--pattern {', '.join(unknown)} is not a known fraud pattern: "
            f"choose from {', '.join(PATTERN_NAMES)}"
        )
    return tuple(p for p in DEFAULT_PATTERNS if p.name in set(wanted))


def check_gateway_url(url: str) -> str:
    """An http(s) base URL such as http://127.0.0.1:8000 (a trailing slash is dropped)."""
    parts = urlsplit(url.strip())
    hint = "use a base URL such as http://127.0.0.1:8000"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"--gateway {url!r} is not an http(s) URL: {hint}")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise OptionError(f"--gateway {url!r} has an invalid port: {hint}") from None
    if parts.query or parts.fragment:
        raise OptionError(f"--gateway {url!r} must not have a query or fragment: {hint}")
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class SimulateOptions:
    """A validated simulate request (see `build_options` for the checks)."""

    rate: float
    duration_s: float | None
    count: int | None
    users: int
    fraud_ratio: float
    patterns: tuple[Pattern, ...]
    seed: int
    gateway_url: str
    batch_size: int
    label_delay_s: float = 30.0  # ground truth is posted this long after acceptance

    @property
    def pattern_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.patterns)

    @property
    def planned(self) -> int | None:
        """How many transactions the run will send when it keeps to schedule (None: no end)."""
        if self.count is not None:
            return self.count
        if self.duration_s is not None:
            return math.ceil(self.duration_s * self.rate - 1e-9)
        return None


def build_options(
    *,
    rate: float,
    duration: str | None,
    count: int | None,
    users: int,
    fraud_ratio: float,
    pattern_names: Sequence[str],
    seed: int,
    gateway_url: str,
    batch_size: int,
    max_batch: int,
    label_delay_s: float = 30.0,
) -> SimulateOptions:
    """Check every flag together; raise OptionError with the first problem and its fix."""
    if not math.isfinite(rate) or rate <= 0 or rate > MAX_RATE:
        raise OptionError(
            f"--rate {rate} is out of range: use a positive number of transactions per "
            f"second up to {MAX_RATE:,.0f}, e.g. --rate 200"
        )
    if duration is not None and count is not None:
        raise OptionError(
            "--duration and --count both set: choose one (or neither, to run until Ctrl-C)"
        )
    duration_s = parse_duration(duration) if duration is not None else None
    if count is not None and count < 1:
        raise OptionError(f"--count {count} must be at least 1, e.g. --count 1000")
    if duration_s is not None and duration_s * rate < 1:
        raise OptionError(
            f"--duration {duration} at --rate {rate:g} sends nothing: make the run longer "
            "or the rate higher"
        )
    if not 1 <= users <= MAX_USERS:
        raise OptionError(f"--users {users} is out of range: use 1 to {MAX_USERS:,}")
    if not math.isfinite(fraud_ratio) or not 0 <= fraud_ratio < 1:
        raise OptionError(
            f"--fraud-ratio {fraud_ratio} is out of range: use a share from 0 up to (not "
            "including) 1, e.g. 0.01 for 1%"
        )
    patterns = select_patterns(pattern_names)
    if seed < 0:
        raise OptionError(f"--seed {seed} must be 0 or more")
    if not 1 <= batch_size <= max_batch:
        raise OptionError(
            f"--batch-size {batch_size} is out of range: use 1 (one request per transaction) "
            f"up to the gateway's limit of {max_batch} (FRAUDCTL_GATEWAY__MAX_BATCH)"
        )
    return SimulateOptions(
        rate=float(rate),
        duration_s=duration_s,
        count=count,
        users=users,
        fraud_ratio=float(fraud_ratio),
        patterns=patterns,
        seed=seed,
        gateway_url=check_gateway_url(gateway_url),
        batch_size=batch_size,
        label_delay_s=label_delay_s,
    )
