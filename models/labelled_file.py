"""Read a labelled transaction file (CSV or Parquet) into transactions + ground truth.

Columns (rename with `columns={"amount": "TX_AMOUNT", ...}`): `user_id`, `merchant_id`,
`amount`, `timestamp`, `label` are required; `transaction_id` (default: the row number),
`card_number` (default: derived from the user id), `location`, `latitude`, `longitude`
are optional. Timestamps are ISO-8601 (no zone = UTC) or epoch seconds/milliseconds;
labels are fraud/legit, 1/0, true/false, yes/no. A full card number is hashed at once
(like the gateway does) and never kept. Every bad row is counted with its reason, never
silently dropped.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from models.contracts.transaction import InvalidTransaction, Transaction
from models.generator import card_fingerprint

REQUIRED = ("user_id", "merchant_id", "amount", "timestamp", "label")
OPTIONAL = ("transaction_id", "card_number", "location", "latitude", "longitude")
FRAUD_VALUES = frozenset({"1", "1.0", "true", "fraud", "yes", "y", "t"})
LEGIT_VALUES = frozenset({"0", "0.0", "false", "legit", "genuine", "no", "n", "f"})
MAX_EXAMPLES = 5


class DataFileError(ValueError):
    """The file cannot be used at all (missing, unreadable, missing columns)."""


@dataclass
class LoadedData:
    """Valid rows in event-time order plus an account of every rejected one."""

    source: str
    rows_total: int
    records: list[tuple[Transaction, str | None]]  # tag "fraud" or None
    bad_rows: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)  # reason -> row numbers

    @property
    def frauds(self) -> int:
        return sum(1 for _, tag in self.records if tag is not None)

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_total": self.rows_total,
            "rows_used": len(self.records),
            "frauds": self.frauds,
            "bad_rows": dict(self.bad_rows),
            "bad_row_examples": self.examples,
        }


def parse_column_map(pairs: list[str]) -> dict[str, str]:
    """`["amount=TX_AMOUNT", ...]` to `{"amount": "TX_AMOUNT"}`, refusing unknown names."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, source = pair.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise DataFileError(f"--column {pair!r}: use NAME=SOURCE, e.g. amount=TX_AMOUNT")
        if name not in REQUIRED + OPTIONAL:
            raise DataFileError(
                f"--column {pair!r}: {name!r} is not a column this reads; choose from "
                f"{', '.join(REQUIRED + OPTIONAL)}"
            )
        mapping[name] = source
    return mapping


def read_labelled_file(path: Path, columns: Mapping[str, str] | None = None) -> LoadedData:
    """Rows of `path` as transactions sorted by event time (stable), bad rows counted."""
    frame = _read_frame(path)
    chosen = {name: (columns or {}).get(name, name) for name in REQUIRED + OPTIONAL}
    missing = [
        f"{name} (column {chosen[name]!r})" for name in REQUIRED if chosen[name] not in frame
    ]
    if missing:
        raise DataFileError(
            f"{path} lacks {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}. "
            "Map names with --column NAME=SOURCE"
        )
    present = {name: frame[source] for name, source in chosen.items() if source in frame}
    times = _epoch_ms(present["timestamp"])
    loaded = LoadedData(str(path), len(frame), [])
    keyed: list[tuple[int, int, Transaction, str | None]] = []
    columns_data = {name: series.tolist() for name, series in present.items()}
    for row in range(len(frame)):
        try:
            txn, tag = _row(columns_data, row, times[row])
        except (InvalidTransaction, ValueError) as error:
            reason = _reason(error)
            loaded.bad_rows[reason] += 1
            examples = loaded.examples.setdefault(reason, [])
            if len(examples) < MAX_EXAMPLES:
                examples.append(row + 1)
            continue
        keyed.append((txn.event_time_ms, row, txn, tag))
    keyed.sort(key=lambda item: (item[0], item[1]))
    loaded.records = [(txn, tag) for _, _, txn, tag in keyed]
    return loaded


def _read_frame(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(f"no file at {path}")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".txt")):
            return pd.read_csv(path, low_memory=False)
    except Exception as error:  # pandas/pyarrow raise many kinds
        raise DataFileError(f"{path} is not a readable table ({error})") from None
    raise DataFileError(f"{path}: use a .csv (optionally compressed) or .parquet file")


def _epoch_ms(series: pd.Series) -> list[int | None]:
    """Epoch ms per row (None when unparseable); numbers are seconds or milliseconds."""
    numeric = pd.to_numeric(series, errors="coerce")
    if numeric.notna().all():
        scale = 1 if numeric.abs().max() > 1e11 else 1000
        return [int(v * scale) if math.isfinite(v) else None for v in numeric.tolist()]
    parsed = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
    values = parsed.astype("int64") // 1_000_000
    return [None if bad else int(v) for v, bad in zip(values, parsed.isna(), strict=True)]


def _row(data: dict[str, list[Any]], row: int, at_ms: int | None) -> tuple[Transaction, str | None]:
    if at_ms is None:
        raise ValueError("timestamp: not a time (ISO-8601 or epoch seconds/ms)")
    label = _label(data["label"][row])
    user = _text(data["user_id"][row], "user_id")
    txn_id = (
        _text(data["transaction_id"][row], "transaction_id")
        if "transaction_id" in data
        else (f"row-{row + 1}")
    )
    if "card_number" in data and not _missing(data["card_number"][row]):
        digits = "".join(c for c in str(data["card_number"][row]) if c.isdigit())
        if len(digits) < 12:
            raise ValueError("card_number: fewer than 12 digits")
        fingerprint, last4 = card_fingerprint(digits), digits[-4:]
    else:  # no card column: one card per user
        fingerprint = card_fingerprint("user:" + user)
        last4 = str(int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) % 10_000).zfill(4)
    location = "Unknown"
    if "location" in data and not _missing(data["location"][row]):
        location = str(data["location"][row])
    latitude = _coordinate(data, "latitude", row)
    longitude = _coordinate(data, "longitude", row)
    record = {
        "transaction_id": txn_id,
        "user_id": user,
        "card_last4": last4,
        "card_fingerprint": fingerprint,
        "amount": _amount(data["amount"][row]),
        "currency": "USD",
        "merchant_id": _text(data["merchant_id"][row], "merchant_id"),
        "location": location,
        "timestamp": datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(),
        "latitude": latitude,
        "longitude": longitude,
    }
    return Transaction.from_record(record), label


def _label(value: Any) -> str | None:
    text = str(value).strip().lower()
    if text in FRAUD_VALUES:
        return "fraud"
    if text in LEGIT_VALUES:
        return None
    raise ValueError("label: not fraud/legit, 1/0, true/false or yes/no")


def _text(value: Any, name: str) -> str:
    if _missing(value):
        raise ValueError(f"{name}: empty")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # ids read as floats by pandas when a column has gaps
    return str(value).strip()


def _amount(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("amount: not a number") from None


def _coordinate(data: dict[str, list[Any]], name: str, row: int) -> float | None:
    if name not in data or _missing(data[name][row]):
        return None
    try:
        return float(data[name][row])
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number") from None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _reason(error: Exception) -> str:
    """A short, countable reason: the field and what is wrong, without the row's value."""
    return str(error).split(", got")[0][:120]
