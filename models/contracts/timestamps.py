"""ISO-8601 timestamps on the wire: one parser (zone required), one writer (`Z` for UTC).

The gateway and the job both parse with `parse_timestamp`; each turns `TimestampError`
into its own error type. Messages never repeat the value, so they are safe in a response.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

TIMESTAMP_MAX_LENGTH: Final = 40
EXAMPLE: Final = "'2025-07-15T10:00:00Z'"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class TimestampError(ValueError):
    """Why a value is not a zoned ISO-8601 time; `kind` is stable for machines."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with a timezone (`Z` or an offset) to an aware datetime, zone kept."""
    if value is None:
        raise TimestampError(
            "timestamp_missing",
            f"is missing: give an ISO-8601 time with a timezone, e.g. {EXAMPLE}",
        )
    if not isinstance(value, str):
        raise TimestampError(
            "timestamp_type", f"must be an ISO-8601 string with a timezone, e.g. {EXAMPLE}"
        )
    if len(value) > TIMESTAMP_MAX_LENGTH:
        raise TimestampError("timestamp_too_long", "is too long for an ISO-8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimestampError(
            "timestamp_format", f"is not ISO-8601 (a date and a time): use e.g. {EXAMPLE}"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimestampError(
            "timestamp_naive",
            "has no time zone, so the moment it names is ambiguous (10:00 where?): add 'Z' "
            "for UTC or a timezone offset such as '+02:00'",
        )
    return parsed


def format_timestamp(value: datetime) -> str:
    """ISO-8601; UTC is written with `Z` (2025-07-15T10:00:00Z), other zones keep the offset."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def epoch_ms(value: datetime) -> int:
    """An aware datetime in epoch milliseconds, exact (no float rounding)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
