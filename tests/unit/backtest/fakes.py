"""A fake gateway for the replay: POST /transactions and POST /labels over httpx's mock
transport, with scripted 503s and 422s."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from fraudctl.backtest.dataset import Row

DAY0 = 1_751_328_000_000  # 2025-07-01T00:00:00Z
HOUR = 3_600_000
CARD = "4111111111111111"


def make_rows(count: int, users: int = 5, step_ms: int = HOUR, fraud_every: int = 4) -> list[Row]:
    return [
        Row(
            line=i + 1,
            transaction_id=f"t{i:04d}",
            user_id=f"u{i % users}",
            card_number=CARD,
            merchant_id=f"m{i % 3}",
            amount=10.0 + i,
            event_ms=DAY0 + i * step_ms,
            location="Online",
            fraud=i % fraud_every == 0,
        )
        for i in range(count)
    ]


class FakeGateway:
    """Stores what it accepts in arrival order; `unavailable` answers 503 that many times;
    amounts in `refuse` get a 422 with a field error."""

    def __init__(self, unavailable: int = 0, refuse: frozenset[float] = frozenset()) -> None:
        self.unavailable = unavailable
        self.refuse = refuse
        self.stored: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.requests = 0
        self.labels_refused = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        body = orjson.loads(request.content)
        if request.url.path == "/labels":
            if self.labels_refused:
                error = {"field": "[0].label", "message": "must be fraud or legit", "type": "x"}
                return httpx.Response(
                    422, json={"error": "invalid_label", "message": "no", "errors": [error]}
                )
            self.labels.extend(body)
            return httpx.Response(202, json={"accepted": len(body), "unresolved": 0})
        if self.unavailable > 0:
            self.unavailable -= 1
            results = [{"index": i, "status": 503, "error": "broker_unavailable",
                        "message": "the broker is down"} for i in range(len(body))]  # fmt: skip
            return httpx.Response(503, json={"results": results})
        results = []
        for index, item in enumerate(body):
            if item["amount"] in self.refuse:
                error = {"field": "amount", "message": "is above the limit", "type": "x"}
                results.append({"index": index, "status": 422, "errors": [error]})
            else:
                self.stored.append(item)
                results.append({"index": index, "status": 202})
        return httpx.Response(202, json={"results": results})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)
