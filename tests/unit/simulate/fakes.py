"""Fakes for the simulator's unit tests: a clock that only moves when slept on, and a
gateway (an httpx MockTransport handler) that answers like the real one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson


class FakeClock:
    """Time moves only when someone sleeps (or a test calls advance)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeGateway:
    """Answers POST /transaction(s) and GET /healthz like gateway.api does.

    `refuse_amount_over` makes larger amounts a 422 with a field reason; `down` makes
    every request fail to connect, and `requests` counts what reached it.
    """

    refuse_amount_over: float | None = None
    down: bool = False
    requests: int = 0
    health_checks: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    label_requests: int = 0

    def label_transport(self) -> httpx.MockTransport:
        """POST /labels for the (blocking) label client: records the labels, 202."""
        return httpx.MockTransport(self.handle_labels)

    def handle_labels(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.path == "/labels"
        self.label_requests += 1
        payload = orjson.loads(request.content)
        self.labels.extend(payload)
        return httpx.Response(202, json={"status": "accepted", "accepted": len(payload),
                                         "unresolved": 0, "received_at": 1})  # fmt: skip

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _judge(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_amount_over is not None and body["amount"] > self.refuse_amount_over:
            return {
                "status": 422,
                "error": "invalid_transaction",
                "message": "the transaction was not accepted: 1 field is invalid (see errors)",
                "errors": [
                    {"field": "amount", "message": "is too large for this test", "type": "x"}
                ],
            }
        self.received.append(body)
        return {"status": 202}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/healthz":
            self.health_checks += 1
            return httpx.Response(200, json={"status": "ok"})
        self.requests += 1
        payload = orjson.loads(request.content)
        if request.url.path == "/transaction":
            verdict = self._judge(payload)
            if verdict["status"] == 202:
                return httpx.Response(202, json={"status": "accepted"})
            return httpx.Response(422, json={k: v for k, v in verdict.items() if k != "status"})
        results = []
        for index, body in enumerate(payload):
            verdict = self._judge(body)
            results.append({"index": index, "transaction_id": body["transaction_id"], **verdict})
        accepted = sum(1 for r in results if r["status"] == 202)
        status = 202 if accepted == len(results) else (207 if accepted else 422)
        return httpx.Response(status, json={"accepted": accepted, "results": results})
