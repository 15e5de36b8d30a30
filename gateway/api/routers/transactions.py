"""POST /transaction (seed-compatible) and POST /transactions (a batch with per-item results)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from starlette.responses import Response

from foundation.clock import now_ms
from gateway.api.deps import IngestDep, JsonBody, SettingsDep
from gateway.api.errors import (
    RETRY_AFTER_S,
    RequestRejected,
    check_batch_size,
    json_response,
    rejection,
)
from gateway.api.ingest import Outcome
from gateway.api.schemas import (
    Accepted,
    BatchResult,
    Rejected,
    TransactionIn,
    Unavailable,
)

router = APIRouter(tags=["transactions"])

_TRANSACTION_SCHEMA: Final = TransactionIn.model_json_schema()
_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": Rejected, "description": "The body is not JSON."},
    413: {"model": Rejected, "description": "The body is larger than the configured limit."},
    415: {"model": Rejected, "description": "The body is not sent as application/json."},
    422: {"model": Rejected, "description": "Invalid fields; each error names one and the fix."},
    503: {"model": Unavailable, "description": "The broker could not take it; retry later."},
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@router.post(
    "/transaction",
    status_code=202,
    summary="Submit one card transaction",
    response_model=Accepted,
    responses=_ERRORS,
    openapi_extra=_body(_TRANSACTION_SCHEMA),
)
async def post_transaction(payload: JsonBody, ingest: IngestDep) -> Response:
    """202 once the broker has confirmed the write (acks=all); 422 or 503 with a reason."""
    received_at = now_ms()
    outcome = await ingest.ingest_one(payload, received_at)
    if outcome.errors:
        return rejection(422, "invalid_transaction", _summary(len(outcome.errors)), outcome.errors)
    if outcome.failure is not None:
        return rejection(503, outcome.failure.reason, outcome.failure.message)
    accepted = {
        "status": "accepted",
        "transaction_id": outcome.transaction_id,
        "received_at": received_at,
    }
    return json_response(accepted, 202)


@router.post(
    "/transactions",
    status_code=202,
    summary="Submit a batch of card transactions",
    response_model=BatchResult,
    responses={
        **_ERRORS,
        207: {"model": BatchResult, "description": "Some items accepted, some not."},
    },
    openapi_extra=_body({"type": "array", "items": _TRANSACTION_SCHEMA}),
)
async def post_transactions(
    payload: JsonBody, ingest: IngestDep, settings: SettingsDep
) -> Response:
    """A JSON array (up to `gateway.max_batch` items) judged item by item.

    202 when every item was accepted, 207 when some were, otherwise 422 (all invalid) or
    503 (the broker took none); `results[i]` says what happened to item i.
    """
    received_at = now_ms()
    limit = settings.gateway.max_batch
    if not isinstance(payload, list):
        raise RequestRejected(
            422,
            "invalid_batch",
            "the body must be a JSON array of transactions; for one transaction use "
            "POST /transaction",
        )
    check_batch_size(payload, limit, "transactions")
    outcomes = await ingest.ingest_many(payload, received_at)
    results = [_item(index, outcome) for index, outcome in enumerate(outcomes)]
    accepted = sum(1 for outcome in outcomes if outcome.accepted)
    invalid = sum(1 for outcome in outcomes if outcome.errors)
    failed = len(outcomes) - accepted - invalid
    if accepted == len(outcomes):
        status = 202
    elif accepted:
        status = 207
    else:
        status = 422 if not failed else 503
    body = {
        "accepted": accepted,
        "rejected": invalid,
        "failed": failed,
        "received_at": received_at,
        "results": results,
    }
    headers = {"Retry-After": RETRY_AFTER_S} if failed else None
    return json_response(body, status, headers)


def _summary(count: int) -> str:
    noun = "field is" if count == 1 else "fields are"
    return f"the transaction was not accepted: {count} {noun} invalid (see errors)"


def _item(index: int, outcome: Outcome) -> dict[str, Any]:
    item: dict[str, Any] = {
        "index": index,
        "transaction_id": outcome.transaction_id,
        "status": outcome.status,
    }
    if outcome.errors:
        item["error"] = "invalid_transaction"
        item["message"] = _summary(len(outcome.errors))
        item["errors"] = [error.as_json() for error in outcome.errors]
    elif outcome.failure is not None:
        item["error"] = outcome.failure.reason
        item["message"] = outcome.failure.message
    return item
