"""Field checks for incoming transactions, each failing with a message that says how to fix it.

The messages never repeat the submitted value: a rejected card number must not travel back
in a response body (or into a proxy's log) any more than an accepted one may reach Kafka.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from gateway.api.currencies import MINOR_UNITS

ID_MAX_LENGTH: Final = 64
LOCATION_MAX_LENGTH: Final = 100
TIMESTAMP_MAX_LENGTH: Final = 40
CARD_MAX_LENGTH: Final = 40
CARD_MIN_DIGITS: Final = 12
CARD_MAX_DIGITS: Final = 19
MAX_FUTURE_SKEW_S: Final = 24 * 3600
EARLIEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
_ID_RE: Final = re.compile(ID_PATTERN[1:-1])
_LOCATION_RE: Final = re.compile(r"[\w .,'()/&#-]+")
_CARD_RE: Final = re.compile(r"[0-9 -]+")
_CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit * 2, digits summed
_ID_RULE: Final = (
    f"1 to {ID_MAX_LENGTH} characters: letters, digits and _ - . : @, starting with a letter "
    "or digit"
)


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def check_identifier(value: str) -> str:
    """Ids become Kafka keys, Redis fields and HTML: keep them short and plain."""
    if not value:
        raise _fail("id_empty", f"must not be empty: use {_ID_RULE}")
    if len(value) > ID_MAX_LENGTH:
        raise _fail("id_too_long", f"is {len(value)} characters long: use {_ID_RULE}")
    if not _ID_RE.fullmatch(value):
        raise _fail("id_characters", f"contains characters that are not allowed: use {_ID_RULE}")
    return value


def check_location(value: str) -> str:
    """A place name or 'Online'; surrounding whitespace is dropped."""
    stripped = value.strip()
    if not stripped:
        raise _fail("location_empty", "must not be empty: give a place name such as 'New York'")
    if len(stripped) > LOCATION_MAX_LENGTH:
        raise _fail(
            "location_too_long",
            f"is {len(stripped)} characters long: use at most {LOCATION_MAX_LENGTH}",
        )
    if not _LOCATION_RE.fullmatch(stripped):
        raise _fail(
            "location_characters",
            "contains characters that are not allowed: use letters, digits, spaces "
            "and . , ' ( ) / & # -",
        )
    return stripped


def card_digits(value: str) -> str:
    """The digits of a card number written with optional spaces or dashes, Luhn-checked."""
    if len(value) > CARD_MAX_LENGTH or not _CARD_RE.fullmatch(value):
        raise _fail(
            "card_format",
            f"must be {CARD_MIN_DIGITS} to {CARD_MAX_DIGITS} digits, optionally grouped with "
            "spaces or dashes, e.g. '4111 1111 1111 1111'",
        )
    digits = value.replace(" ", "").replace("-", "")
    if not CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS:
        raise _fail(
            "card_length",
            f"has {len(digits)} digits: a card number has {CARD_MIN_DIGITS} to "
            f"{CARD_MAX_DIGITS} digits",
        )
    if not luhn_valid(digits):
        raise _fail(
            "card_checksum",
            "fails the Luhn checksum: a digit is probably mistyped; check the number on the card",
        )
    return digits


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check every payment card number satisfies."""
    plain = sum(map(int, digits[-1::-2]))
    doubled = sum(_LUHN_DOUBLED[int(char)] for char in digits[-2::-2])
    return (plain + doubled) % 10 == 0


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with a timezone; a naive time is refused because nobody knows whose it is."""
    if not isinstance(value, str):
        raise _fail(
            "timestamp_type",
            "must be an ISO-8601 string with a timezone, e.g. '2025-07-15T10:00:00Z'",
        )
    if len(value) > TIMESTAMP_MAX_LENGTH:
        raise _fail("timestamp_too_long", "is too long for an ISO-8601 timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            "timestamp_format",
            "is not an ISO-8601 date and time: use e.g. '2025-07-15T10:00:00Z'",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _fail(
            "timestamp_naive",
            "has no timezone, so the moment it names is ambiguous (10:00 where?): add 'Z' "
            "for UTC or an offset such as '+02:00'",
        )
    return parsed.astimezone(UTC)


def check_timestamp_range(value: datetime) -> datetime:
    """Refuse times before 2000 or more than a day ahead: those are clock or unit errors."""
    if value < EARLIEST_TIMESTAMP:
        raise _fail("timestamp_too_old", "is before 2000-01-01: check the date and the clock")
    if value.timestamp() > time.time() + MAX_FUTURE_SKEW_S:
        raise _fail(
            "timestamp_in_future",
            "is more than 24 hours in the future: check the sender's clock and timezone",
        )
    return value


def check_currency(value: str) -> str:
    if not _CURRENCY_RE.fullmatch(value):
        raise _fail(
            "currency_format",
            "must be a three-letter upper-case ISO 4217 code such as 'USD' or 'EUR'",
        )
    if value not in MINOR_UNITS:
        raise _fail(
            "currency_unknown",
            "is not an ISO 4217 currency in circulation: use a code such as 'USD' or 'EUR'",
        )
    return value


def check_amount(value: float) -> float:
    if not math.isfinite(value):
        raise _fail("amount_not_finite", "must be a finite number")
    if value <= 0:
        raise _fail("amount_not_positive", "must be greater than 0")
    return float(value)


def decimal_places(value: float) -> int:
    """Decimals in the shortest text that round-trips the float (50.10 → 1, 5e-07 → 7)."""
    text = repr(value)
    if "e" in text or "E" in text:
        exponent = Decimal(text).normalize().as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0
    _whole, _dot, fraction = text.partition(".")
    return len(fraction.rstrip("0"))


def check_latitude(value: float) -> float:
    if not math.isfinite(value) or not -90.0 <= value <= 90.0:
        raise _fail("latitude_range", "must be a number from -90 to 90 (degrees north)")
    return float(value)


def check_longitude(value: float) -> float:
    if not math.isfinite(value) or not -180.0 <= value <= 180.0:
        raise _fail("longitude_range", "must be a number from -180 to 180 (degrees east)")
    return float(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with a request: where, what, and a machine-readable kind."""

    field: str
    message: str
    kind: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.kind}


_TYPE_MESSAGES: Final = {
    "string_type": "must be a JSON string",
    "float_type": "must be a JSON number",
    "int_type": "must be a JSON number",
    "bool_type": "must be true or false",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}


#: Cross-field checks run on the whole model; report them against the field to fix.
_MODEL_ERROR_FIELDS: Final = {
    "amount_too_large": "amount",
    "amount_precision": "amount",
    "coordinates_incomplete": "latitude",
}


def field_errors(error: ValidationError, hints: dict[str, str]) -> list[FieldError]:
    """Turn pydantic's errors into messages that name the field and the fix, never the input."""
    found: list[FieldError] = []
    for item in error.errors(include_input=False, include_url=False):
        kind = item["type"]
        field = ".".join(str(part) for part in item["loc"]) or _MODEL_ERROR_FIELDS.get(kind, "body")
        if kind == "missing":
            message = f"is required: {hints.get(field, 'add it')}"
        elif kind == "extra_forbidden":
            message = f"is not a known field: remove it (accepted: {', '.join(hints)})"
        elif kind in _TYPE_MESSAGES:
            message = f"{_TYPE_MESSAGES[kind]}: {hints.get(field, '')}".rstrip(": ")
        else:
            message = item["msg"]
        found.append(FieldError(field=field, message=message, kind=kind))
    return found
