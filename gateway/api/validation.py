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
from models.contracts import card as contract_card
from models.contracts import timestamps as contract_timestamps
from models.contracts.transaction import WARMUP_USER_PREFIX, is_warmup_user

ID_MAX_LENGTH: Final = 64
LOCATION_MAX_LENGTH: Final = 100
EARLIEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC)

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$"
_ID_RE: Final = re.compile(ID_PATTERN[1:-1])
_LOCATION_RE: Final = re.compile(r"[\w .,'()/&#-]+")
_CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
_CARD_LIKE_RE: Final = re.compile(r"(?<!\d)\d(?:[ -]?\d){11,18}(?!\d)")
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


def check_not_warmup_user(value: str) -> str:
    """Not one of the synthetic users whose decisions the job drops (fraudctl/warmup.py)."""
    if is_warmup_user(value):
        raise _fail(
            "user_id_reserved",
            f"must not start with {WARMUP_USER_PREFIX!r}: that prefix is reserved for the "
            "synthetic transactions `fraudctl up` warms the scoring job with, whose "
            "decisions are dropped",
        )
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
    if contains_card_number(stripped):
        raise _fail(
            "location_card_number",
            "contains what looks like a card number: send the card only in card_number",
        )
    return stripped


def contains_card_number(text: str) -> bool:
    """A Luhn-valid run of 12-19 digits (optionally spaced or dashed): it must not travel on."""
    for match in _CARD_LIKE_RE.finditer(text):
        digits = match.group(0).replace(" ", "").replace("-", "")
        if contract_card.luhn_valid(digits):
            return True
    return False


def card_digits(value: str) -> str:
    """The digits of a card number written with optional spaces or dashes, Luhn-checked."""
    try:
        return contract_card.card_digits(value)
    except contract_card.CardNumberError as error:
        raise _fail(error.kind, error.message) from None


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with a timezone, in UTC; a naive time is refused: nobody knows whose it is."""
    try:
        return contract_timestamps.parse_timestamp(value).astimezone(UTC)
    except contract_timestamps.TimestampError as error:
        raise _fail(error.kind, error.message) from None


def check_timestamp_range(value: datetime) -> datetime:
    """Refuse times before 2000: a clock or unit error (the future bound is a setting)."""
    if value < EARLIEST_TIMESTAMP:
        raise _fail("timestamp_too_old", "is before 2000-01-01: check the date and the clock")
    return value


def check_future_skew(value: datetime, max_skew_s: int) -> None:
    """Refuse times more than `max_skew_s` ahead of the gateway's clock.

    A payment cannot happen in the future; a far-future event time would also push the
    job's watermark ahead and make every honest transaction after it "late".
    """
    ahead = value.timestamp() - time.time()
    if ahead > max_skew_s:
        raise PydanticCustomError(
            "timestamp_in_future",
            "is more than {limit} s ahead of the gateway's clock: check the sender's clock "
            "and timezone (or raise FRAUDCTL_GATEWAY__MAX_FUTURE_SKEW_S)",
            {"limit": max_skew_s},
        )


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
    "timestamp_in_future": "timestamp",
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
