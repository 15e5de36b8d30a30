"""POST /labels: verdicts about transactions (fraud or legit) into the `transaction-labels`
topic, through the gateway's one producer, with the same 202 promise as transactions.

The body is one label object, or a JSON array of them (up to `gateway.max_batch`). A batch
is all or nothing: any invalid label refuses the whole batch with a 422 that names
`[index].field`, and nothing is written. `labelled_at` may be left out (the gateway's
receipt time is used). A label for a transaction the gateway never saw is accepted: only
the job can tell, and it reports such labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol, runtime_checkable

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from foundation.clock import now_ms
from gateway.api.deps import JsonBody, ProducerDep, SettingsDep
from gateway.api.errors import check_batch_size, json_response, rejection
from gateway.api.producer import ProduceFailure
from gateway.api.schemas import Rejected, Unavailable
from gateway.api.validation import FieldError
from models.contracts.label import (
    LABEL_SOURCES,
    LABEL_VALUES,
    OPTIONAL_IDS,
    InvalidLabel,
    Label,
)

router = APIRouter(tags=["labels"])


@runtime_checkable
class LabelProducer(Protocol):
    """A producer that can write to a topic other than the transactions topic."""

    async def produce_to(
        self, topic: str, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]: ...


class LabelsAccepted(BaseModel):
    """202: every label is on the labels topic (acks=all)."""

    status: str = "accepted"
    accepted: int
    unresolved: int = Field(
        description="Labels without user_id and merchant_id: stored, but the job cannot "
        "credit them to a merchant or card."
    )
    received_at: int = Field(description="When the gateway received them, epoch milliseconds.")


_LABEL_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["transaction_id", "label", "source"],
    "properties": {
        "transaction_id": {"type": "string", "maxLength": 128},
        "label": {"enum": list(LABEL_VALUES)},
        "source": {"enum": list(LABEL_SOURCES)},
        "labelled_at": {
            "description": "Epoch ms or ISO-8601 with a zone; default: when received.",
            "oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}],
        },
        **{name: {"type": "string", "maxLength": 128} for name in OPTIONAL_IDS},
    },
}
_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_LABEL_SCHEMA, {"type": "array", "items": _LABEL_SCHEMA}]}
            }
        },
    }
}


@router.post(
    "/labels",
    status_code=202,
    summary="Submit one label or a batch of labels",
    response_model=LabelsAccepted,
    responses={
        400: {"model": Rejected, "description": "The body is not JSON."},
        422: {"model": Rejected, "description": "Invalid labels; each error names the field."},
        503: {"model": Unavailable, "description": "The broker could not take them; retry."},
    },
    openapi_extra=_BODY,
)
async def post_labels(payload: JsonBody, producer: ProducerDep, settings: SettingsDep) -> Response:
    """202 once the broker confirmed every label; 422 (nothing written) or 503 with a reason."""
    received_at = now_ms()
    single = not isinstance(payload, list)
    items: list[Any] = [payload] if single else payload
    check_batch_size(items, settings.gateway.max_batch, "labels")
    labels, errors = _validate(items, received_at, single=single)
    if errors:
        noun = "label is" if single else f"batch of {len(items)} labels is"
        message = f"the {noun} not accepted: {len(errors)} problem(s), nothing was written"
        return rejection(422, "invalid_label", message, errors)
    if not isinstance(producer, LabelProducer):
        return rejection(503, "labels_unsupported", "this gateway cannot write labels")
    records = [(label.key, label.to_json()) for label in labels]
    failures = await producer.produce_to(settings.kafka.labels_topic, records)
    failure = next((f for f in failures if f is not None), None)
    if failure is not None:
        stored = sum(1 for f in failures if f is None)
        suffix = f" ({stored} of {len(records)} were stored; resending them is safe)"
        return rejection(503, failure.reason, failure.message + (suffix if stored else ""))
    body = {
        "status": "accepted",
        "accepted": len(labels),
        "unresolved": sum(1 for label in labels if not label.resolved),
        "received_at": received_at,
    }
    return json_response(body, 202)


def _validate(
    items: list[Any], received_at: int, *, single: bool
) -> tuple[list[Label], list[FieldError]]:
    labels: list[Label] = []
    errors: list[FieldError] = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        where = "" if single else f"[{index}]."
        if isinstance(item, dict) and "labelled_at" not in item:
            item = {**item, "labelled_at": received_at}
        try:
            label = Label.from_record(item, wire=False)
        except InvalidLabel as exc:
            errors.extend(
                FieldError(f"{where}{field}", message, "invalid_label")
                for field, message in exc.problems
            )
            continue
        if label.transaction_id in first:
            errors.append(
                FieldError(
                    f"{where}transaction_id",
                    f"repeats the label at index {first[label.transaction_id]} of this batch: "
                    "send one label per transaction",
                    "duplicate_in_batch",
                )
            )
            continue
        first[label.transaction_id] = index
        labels.append(label)
    return labels, errors
