"""A labelled transaction file (CSV or Parquet) read into rows the replay can send.

Column names default to the gateway's field names plus `label`; `--column NAME=SOURCE`
maps others. Every row that cannot be sent is counted with its reason (the first few
are kept as examples), never dropped silently. Card numbers never appear in a reason.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from models.contracts.card import luhn_check_digit

REQUIRED: Final = ("transaction_id", "user_id", "merchant_id", "amount", "timestamp", "label")
OPTIONAL: Final = ("card_number", "location", "latitude", "longitude", "currency", "pattern")
FRAUD_WORDS: Final = frozenset({"1", "true", "fraud", "yes"})
LEGIT_WORDS: Final = frozenset({"0", "false", "legit", "no"})
EXAMPLES_KEPT: Final = 5
_ZONE_RE: Final = re.compile(r"(Z|z|[+-]\d{2}(:?\d{2})?)$")
_EPOCH_MS_ABOVE: Final = 100_000_000_000  # a number above this is milliseconds, not seconds


class DatasetError(ValueError):
    """The file as a whole cannot be used (missing, unreadable, a required column absent)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One transaction of the file, ready for the gateway, with its ground truth."""

    line: int  # 1-based data row in the file (header not counted)
    transaction_id: str
    user_id: str
    card_number: str  # digits only; sent to the gateway and never shown
    merchant_id: str
    amount: float
    event_ms: int
    location: str
    fraud: bool
    latitude: float | None = None
    longitude: float | None = None
    currency: str | None = None
    pattern: str | None = None

    @property
    def timestamp(self) -> str:
        return format_ms(self.event_ms)


@dataclass
class BadRows:
    """Rows that were not replayed: a count per reason and the first few examples."""

    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)

    def add(self, where: str, reason: str) -> None:
        self.reasons[reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append((where, reason))

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "reasons": dict(self.reasons.most_common()),
            "examples": [{"row": where, "reason": reason} for where, reason in self.examples],
        }


@dataclass
class Dataset:
    """The file's good rows in event-time order, what was wrong with the others, and notes."""

    rows: list[Row]
    bad: BadRows
    notes: list[str]
    has_pattern: bool
    size: int = 0  # data rows in the file, good and bad

    @property
    def start_ms(self) -> int:
        return self.rows[0].event_ms

    @property
    def end_ms(self) -> int:
        return self.rows[-1].event_ms


def format_ms(ms: int) -> str:
    """Epoch milliseconds as the gateway's ISO-8601 UTC form (second precision if whole)."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_column_map(items: Iterable[str]) -> dict[str, str]:
    """`NAME=SOURCE` pairs (our field name = the file's column) into a mapping."""
    known = (*REQUIRED, *OPTIONAL)
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise DatasetError(f"--column {item!r}: write NAME=SOURCE, e.g. amount=amt")
        if name not in known:
            raise DatasetError(f"--column {item!r}: {name!r} is not a field; use one of {known}")
        mapping[name] = source
    return mapping


def derived_card(seed: str) -> str:
    """A stable, Luhn-valid 16-digit card number for a seed (a user id, or run + card)."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    payload = "4" + f"{digest % 10**14:014d}"
    return payload + str(luhn_check_digit(payload))


def parse_label(value: Any) -> bool | None:
    """True for fraud, False for legit, None when the value is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return {1: True, 0: False}.get(int(value)) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word.endswith(".0"):
            word = word[:-2]
        if word in FRAUD_WORDS:
            return True
        if word in LEGIT_WORDS:
            return False
    return None


def load_dataset(path: Path, columns: Mapping[str, str] | None = None) -> Dataset:
    """Read a CSV or Parquet file; the format comes from the suffix (.csv/.tsv, .parquet)."""
    import pandas as pd

    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv", ".txt", ".gz"):
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
        else:
            raise DatasetError(f"{path}: unknown format {suffix!r}; use a .csv or .parquet file")
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None
    table = {str(name): frame[name].tolist() for name in frame.columns}
    return build_dataset(table, columns or {})


def build_dataset(table: Mapping[str, Sequence[Any]], columns: Mapping[str, str]) -> Dataset:
    """Rows from column lists: validate each, sort by event time, count what is wrong."""
    source = {name: columns.get(name, name) for name in (*REQUIRED, *OPTIONAL)}
    absent = [name for name in REQUIRED if source[name] not in table]
    missing = [f"{name} (column {source[name]!r})" for name in absent]
    if missing:
        present = ", ".join(list(table)[:20])
        raise DatasetError(
            f"required column(s) missing: {', '.join(missing)}; the file has: {present}. "
            "Map other names with --column NAME=SOURCE"
        )
    lengths = {len(values) for values in table.values()}
    size = lengths.pop() if lengths else 0
    empty: list[Any] = [None] * size
    cols = {name: table.get(source[name], empty) for name in source}
    bad, notes = BadRows(), []
    naive = derived = 0
    rows: list[Row] = []
    seen: set[str] = set()
    for index in range(size):
        where = f"row {index + 1}"
        values = {name: cols[name][index] for name in cols}
        try:
            row, was_naive, was_derived = _row(index + 1, values)
        except ValueError as exc:
            bad.add(where, str(exc))
            continue
        if row.transaction_id in seen:
            bad.add(where, "duplicate transaction_id (the first row with it is kept)")
            continue
        seen.add(row.transaction_id)
        naive += was_naive
        derived += was_derived
        rows.append(row)
    if naive:
        notes.append(f"{naive:,} timestamps had no time zone and were read as UTC")
    if derived:
        notes.append(f"{derived:,} rows had no card number: one was derived from the user id")
    if not rows:
        why = "; ".join(f"{count:,} × {reason}" for reason, count in bad.reasons.most_common(3))
        raise DatasetError(f"no usable rows ({size:,} in the file, {bad.count:,} bad: {why})")
    rows.sort(key=lambda row: row.event_ms)  # stable: file order among equal times
    return Dataset(rows, bad, notes, has_pattern=source["pattern"] in table, size=size)


def _text(values: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    value = values.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = ""
    else:
        text = str(value).strip()
    if not text:
        if required:
            raise ValueError(f"{name} is empty")
        return None
    return text


def _number(values: Mapping[str, Any], name: str, required: bool) -> float | None:
    text = _text(values, name, required)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{name} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} is not a finite number")
    return number


def _row(line: int, values: Mapping[str, Any]) -> tuple[Row, bool, bool]:
    fraud = parse_label(values.get("label"))
    if fraud is None:
        raise ValueError("label is not one of 1/0, true/false, fraud/legit")
    event_ms, naive = parse_time(values.get("timestamp"))
    amount = _number(values, "amount", True)
    assert amount is not None
    user_id = _text(values, "user_id")
    assert user_id is not None
    if isinstance(values.get("card_number"), float) and not math.isnan(values["card_number"]):
        raise ValueError("card_number is stored as a decimal number (digits lost); store text")
    card = _text(values, "card_number", required=False)
    derived = card is None
    if card is None:
        card = derived_card(f"user:{user_id}")
    else:
        card = "".join(char for char in card if char.isdigit())
    latitude = _number(values, "latitude", False)
    longitude = _number(values, "longitude", False)
    location = _text(values, "location", required=False)
    if location is None:
        location = "Online" if latitude is None else "Unknown"
    currency = _text(values, "currency", required=False)
    row = Row(
        line=line,
        transaction_id=_text(values, "transaction_id") or "",
        user_id=user_id,
        card_number=card,
        merchant_id=_text(values, "merchant_id") or "",
        amount=round(amount, 2) if currency is None else amount,
        event_ms=event_ms,
        location=location,
        fraud=fraud,
        latitude=latitude,
        longitude=longitude,
        currency=currency,
        pattern=_text(values, "pattern", required=False),
    )
    return row, naive, derived


def parse_time(value: Any) -> tuple[int, bool]:
    """(epoch ms, whether it had no zone) from ISO text, a datetime or an epoch number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("timestamp is empty")
    if isinstance(value, datetime):
        naive = value.tzinfo is None
        moment = value.replace(tzinfo=UTC) if naive else value
        return int(moment.timestamp() * 1000), naive
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(float(value)), False
    text = str(value).strip()
    if not text:
        raise ValueError("timestamp is empty")
    try:
        return _epoch(float(text)), False
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise ValueError("timestamp is not ISO-8601 (e.g. 2025-07-15T10:00:00Z)") from None
    naive = moment.tzinfo is None or not _ZONE_RE.search(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000), naive


def _epoch(number: float) -> int:
    if not math.isfinite(number) or number <= 0:
        raise ValueError("timestamp is not a positive epoch time")
    return int(number if number > _EPOCH_MS_ABOVE else number * 1000)
