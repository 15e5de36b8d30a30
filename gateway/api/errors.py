"""Error answers: one JSON shape, a stable `error` code, and a message that says the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from gateway.api.validation import FieldError

RETRY_AFTER_S = "1"


class RequestRejected(Exception):
    """A request refused as a whole (bad JSON, wrong media type, oversize batch...)."""

    def __init__(
        self, status: int, error: str, message: str, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.errors = list(errors)


def check_batch_size(items: Sequence[Any], limit: int, noun: str) -> None:
    """A batch of 1..`limit` items, or a 422 that says what to send instead."""
    if not items:
        raise RequestRejected(422, "empty_batch", f"the batch is empty: send 1 or more {noun}")
    if len(items) > limit:
        raise RequestRejected(
            422,
            "batch_too_large",
            f"the batch has {len(items)} {noun}; the limit is {limit}: split it",
        )


def json_response(content: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def rejection(status: int, error: str, message: str, errors: Sequence[FieldError] = ()) -> Response:
    body = {"error": error, "message": message, "errors": [e.as_json() for e in errors]}
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    return json_response(body, status, headers)


async def _on_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRejected)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.count_rejected(exc.error)
    return rejection(exc.status, exc.error, exc.message, exc.errors)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            ".".join(str(part) for part in item.get("loc", ())) or "body",
            str(item.get("msg", "is invalid")),
            str(item.get("type", "invalid")),
        )
        for item in exc.errors()
    ]
    return rejection(422, "invalid_request", "the request is invalid: see errors", errors)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestRejected, _on_rejected)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
