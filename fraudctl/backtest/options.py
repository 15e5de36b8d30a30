"""Parsing the backtest's duration and date options, with messages that say the fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

_UNITS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_RE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
DURATION_HELP: Final = "a number with a unit: 30m, 12h, 7d, 2w (0 = none)"


class OptionError(ValueError):
    """An option value that cannot be used; the message names the option and the fix."""


def parse_duration(text: str, option: str) -> int:
    """'7d' -> milliseconds; '0' -> 0."""
    value = text.strip().lower()
    if value == "0":
        return 0
    match = _DURATION_RE.fullmatch(value)
    if not match:
        raise OptionError(f"{option} {text!r}: use {DURATION_HELP}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_date(text: str, option: str) -> int:
    """An ISO date or date-time (UTC when no zone is given) -> epoch ms."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(
            f"{option} {text!r}: use an ISO date such as 2025-08-01 or 2025-08-01T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
