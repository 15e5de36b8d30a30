"""Validate, mask, encode, produce: the one path every transaction takes.

Both endpoints use it, so a transaction is judged the same way alone or in a batch. Only
`TransactionIn` objects that passed every check are encoded, as the shared
`models.contracts.transaction.Transaction` record the job parses, and the encoding drops
the card number for its last four digits and fingerprint, so nothing invalid and no full
card number can reach `producer.produce_many`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from gateway.api.metrics import GatewayMetrics
from gateway.api.producer import ProduceFailure, TransactionProducer
from gateway.api.schemas import FIELD_HINTS, TransactionIn, ValidationLimits
from gateway.api.validation import ID_MAX_LENGTH, FieldError, field_errors
from models.contracts.card import CardMasker
from models.contracts.transaction import Transaction

_NOT_AN_OBJECT: Final = (
    "must be a JSON object with the transaction's fields, e.g. "
    '{"transaction_id": "txn_1", "user_id": "u1", ...}'
)


@dataclass(slots=True)
class Outcome:
    """What happened to one transaction: accepted, invalid (errors) or not stored (failure)."""

    transaction_id: str | None
    errors: list[FieldError] = field(default_factory=list)
    failure: ProduceFailure | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors and self.failure is None

    @property
    def status(self) -> int:
        if self.errors:
            return 422
        return 503 if self.failure is not None else 202


def rejection_reason(errors: Sequence[FieldError]) -> str:
    """A bounded metrics label for why a transaction was invalid."""
    first = errors[0]
    if first.kind == "extra_forbidden":
        return "unknown_field"
    if first.kind == "duplicate_in_batch":
        return "duplicate_in_batch"
    return f"invalid_{first.field}" if first.field in FIELD_HINTS else "invalid_body"


class TransactionIngest:
    """Turns request payloads into confirmed Kafka records or precise refusals."""

    def __init__(
        self,
        *,
        producer: TransactionProducer,
        masker: CardMasker,
        metrics: GatewayMetrics,
        limits: ValidationLimits,
    ) -> None:
        self.producer = producer
        self._masker = masker
        self._metrics = metrics
        self._limits = limits

    def validate(self, payload: Any) -> TransactionIn | list[FieldError]:
        if not isinstance(payload, dict):
            return [FieldError("body", _NOT_AN_OBJECT, "model_type")]
        try:
            return TransactionIn.model_validate(payload, context=self._limits)
        except ValidationError as exc:
            return field_errors(exc, FIELD_HINTS)

    def encode(self, tx: TransactionIn, received_at: int) -> tuple[bytes, bytes]:
        """(key, value) for Kafka: key = user_id, value = the masked, normalised record."""
        card = self._masker.mask(tx.card_number)
        record = Transaction(
            transaction_id=tx.transaction_id,
            user_id=tx.user_id,
            card_last4=card.last4,
            card_fingerprint=card.fingerprint,
            amount=tx.amount,
            currency=tx.currency,
            merchant_id=tx.merchant_id,
            location=tx.location,
            timestamp=tx.timestamp,
            latitude=tx.latitude,
            longitude=tx.longitude,
            received_at=received_at,
        )
        return record.kafka_key, record.to_json()

    async def ingest_one(self, payload: Any, received_at: int) -> Outcome:
        return (await self.ingest_many([payload], received_at))[0]

    async def ingest_many(self, payloads: Sequence[Any], received_at: int) -> list[Outcome]:
        """One outcome per payload, in order; only valid ones are produced."""
        outcomes: list[Outcome] = []
        records: list[tuple[bytes, bytes]] = []
        produced: list[Outcome] = []
        first_index: dict[str, int] = {}
        for index, payload in enumerate(payloads):
            checked = self.validate(payload)
            if isinstance(checked, list):
                tx_id = payload.get("transaction_id") if isinstance(payload, dict) else None
                outcome = Outcome(_echo_id(tx_id), errors=checked)
            elif checked.transaction_id in first_index:
                outcome = Outcome(checked.transaction_id, errors=[_duplicate(first_index, checked)])
            else:
                first_index[checked.transaction_id] = index
                outcome = Outcome(checked.transaction_id)
                records.append(self.encode(checked, received_at))
                produced.append(outcome)
            outcomes.append(outcome)
        if records:
            started = time.perf_counter()
            failures = await self.producer.produce_many(records)
            self._metrics.produce_latency.observe(time.perf_counter() - started)
            for outcome, failure in zip(produced, failures, strict=True):
                outcome.failure = failure
        self._count(outcomes)
        return outcomes

    def _count(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.errors:
                self._metrics.count_rejected(rejection_reason(outcome.errors))
            elif outcome.failure is not None:
                self._metrics.count_rejected(outcome.failure.reason)
            else:
                self._metrics.accepted += 1


def _echo_id(value: Any) -> str | None:
    """The client's transaction_id, echoed back only when it is a plausible id."""
    return value if isinstance(value, str) and 0 < len(value) <= ID_MAX_LENGTH else None


def _duplicate(first_index: dict[str, int], tx: TransactionIn) -> FieldError:
    return FieldError(
        "transaction_id",
        f"repeats the transaction at index {first_index[tx.transaction_id]} of this batch: "
        "send each transaction once",
        "duplicate_in_batch",
    )
