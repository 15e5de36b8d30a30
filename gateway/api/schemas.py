"""What goes in, what comes out, and what goes to Kafka.

`TransactionIn` is the request body (strict, unknown fields rejected); the response
models document the answers in /docs. What goes to Kafka is not defined here: it is
`models.contracts.transaction.Transaction`, the record the job reads back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from gateway.api import validation as check
from gateway.api.currencies import DEFAULT_CURRENCY, MINOR_UNITS

SEED_EXAMPLE: Final[dict[str, Any]] = {
    "transaction_id": "txn_normal_001",
    "user_id": "user-test-123",
    "card_number": "4242-4242-4242-4242",
    "amount": 50.00,
    "timestamp": "2025-07-15T10:00:00Z",
    "merchant_id": "merchant_a",
    "location": "New York",
}

#: How to fill each field, used in "is required" and type messages.
FIELD_HINTS: Final[dict[str, str]] = {
    "transaction_id": "a unique id such as 'txn_0001'",
    "user_id": "the paying user's id such as 'user-123'",
    "card_number": "12 to 19 digits, e.g. '4111 1111 1111 1111'",
    "amount": "a positive number such as 50.00",
    "timestamp": "an ISO-8601 time with timezone such as '2025-07-15T10:00:00Z'",
    "merchant_id": "the merchant's id such as 'merchant_a'",
    "location": "a place name such as 'New York' or 'Online'",
    "currency": "an ISO 4217 code such as 'USD' (optional, default USD)",
    "latitude": "degrees north from -90 to 90 (optional)",
    "longitude": "degrees east from -180 to 180 (optional)",
}

Identifier = Annotated[
    str,
    AfterValidator(check.check_identifier),
    Field(json_schema_extra={"maxLength": check.ID_MAX_LENGTH, "pattern": check.ID_PATTERN}),
]
# An id that is not one of the warm-up's reserved synthetic users.
UserIdentifier = Annotated[Identifier, AfterValidator(check.check_not_warmup_user)]


class ValidationLimits(BaseModel):
    """Settings-dependent bounds, passed to validation as context."""

    max_amount: float = 1_000_000.0
    max_future_skew_s: int = 300


class TransactionIn(BaseModel):
    """A card payment as the seed's payment API accepted it, checked strictly."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={"examples": [SEED_EXAMPLE]},
    )

    transaction_id: Identifier = Field(description="Unique id of the payment.")
    user_id: UserIdentifier = Field(description="Paying user; the Kafka key.")
    card_number: Annotated[str, AfterValidator(check.card_digits)] = Field(
        repr=False,
        description="12–19 digits, optional spaces/dashes, Luhn-valid. Never stored or logged.",
    )
    amount: Annotated[float, AfterValidator(check.check_amount)] = Field(
        description="Positive, finite, at most the currency's minor units of decimals."
    )
    timestamp: Annotated[
        datetime,
        BeforeValidator(check.parse_timestamp),
        AfterValidator(check.check_timestamp_range),
    ] = Field(description="ISO-8601 with a timezone, e.g. 2025-07-15T10:00:00Z.")
    merchant_id: Identifier = Field(description="Merchant id.")
    location: Annotated[
        str,
        AfterValidator(check.check_location),
        Field(json_schema_extra={"maxLength": check.LOCATION_MAX_LENGTH}),
    ] = Field(description="Place name or 'Online'.")
    currency: Annotated[str, AfterValidator(check.check_currency)] = Field(
        default=DEFAULT_CURRENCY, description="ISO 4217 code."
    )
    latitude: Annotated[float, AfterValidator(check.check_latitude)] | None = None
    longitude: Annotated[float, AfterValidator(check.check_longitude)] | None = None

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> TransactionIn:
        limits = info.context if isinstance(info.context, ValidationLimits) else _DEFAULT_LIMITS
        check.check_future_skew(self.timestamp, limits.max_future_skew_s)
        if self.amount > limits.max_amount:
            raise PydanticCustomError(
                "amount_too_large",
                "is above the gateway's limit of {limit}: split the payment or raise "
                "FRAUDCTL_GATEWAY__MAX_AMOUNT",
                {"limit": f"{limits.max_amount:,.2f}"},
            )
        allowed = MINOR_UNITS[self.currency]
        if check.decimal_places(self.amount) > allowed:
            raise PydanticCustomError(
                "amount_precision",
                "has more decimals than {currency} allows ({allowed}): round it to "
                "the currency's minor unit",
                {"currency": self.currency, "allowed": allowed},
            )
        if (self.latitude is None) != (self.longitude is None):
            raise PydanticCustomError(
                "coordinates_incomplete",
                "goes with longitude: send latitude and longitude together, or neither",
            )
        return self


_DEFAULT_LIMITS: Final = ValidationLimits()


class FieldErrorOut(BaseModel):
    field: str = Field(examples=["amount"])
    message: str = Field(examples=["must be greater than 0"])
    type: str = Field(examples=["amount_not_positive"])


class Accepted(BaseModel):
    """202: the broker confirmed the write (acks=all)."""

    status: Literal["accepted"] = "accepted"
    transaction_id: str
    received_at: int = Field(description="When the gateway received it, epoch milliseconds.")


class Rejected(BaseModel):
    """4xx: what is wrong with the request and how to fix it."""

    error: str = Field(examples=["invalid_transaction"])
    message: str
    errors: list[FieldErrorOut] = []


class Unavailable(BaseModel):
    """503: the broker could not take the transaction; nothing was accepted. Retry later."""

    error: str = Field(examples=["broker_unavailable"])
    message: str


class BatchItemResult(BaseModel):
    index: int
    transaction_id: str | None = None
    status: int = Field(description="202 accepted, 422 invalid, 503 broker could not take it.")
    error: str | None = None
    message: str | None = None
    errors: list[FieldErrorOut] | None = None


class BatchResult(BaseModel):
    """Per-item outcome of POST /transactions, in request order."""

    accepted: int
    rejected: int
    failed: int
    received_at: int
    results: list[BatchItemResult]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    bootstrap: str
    topic: str
    broker_reachable: bool
    topic_exists: bool
    partitions: int = 0
    queued: int = 0
    message: str = ""
