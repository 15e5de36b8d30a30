"""A tiny HTTP gateway on a free loopback port (uvicorn in a thread) for CLI tests.

It answers like gateway.api (202 / 422 with field errors, per-item batch results) and,
when given a Redis port, plays the scoring job for the demo: a transaction of 1000 or
more gets an alert on the stream.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import uvicorn

from models.contracts.alert import alert_fields
from tests.fixtures.ports import free_ports

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class HttpGateway:
    def __init__(self, redis_port: int | None = None, stream: str = "fraud:alerts") -> None:
        self.received: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.redis = redis.Redis(port=redis_port) if redis_port else None
        self.stream = stream

    def _judge(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not isinstance(body.get("amount"), int | float) or body["amount"] <= 0:
            error = {"field": "amount", "message": "must be greater than 0", "type": "x"}
            return 422, {"error": "invalid_transaction", "message": "invalid", "errors": [error]}
        self.received.append(body)
        if self.redis is not None and body["amount"] >= 1000:
            now = int(time.time() * 1000)
            alert = {
                "transaction_id": body["transaction_id"], "user_id": body["user_id"],
                "amount": body["amount"], "merchant_id": body["merchant_id"],
                "location": body["location"], "score": 0.97, "threshold": 0.5,
                "reasons": [{"code": "AMOUNT_SPIKE", "message": "100x this user's average"}],
                "received_at": now - 35, "detected_at": now, "model_version": "test",
            }  # fmt: skip
            self.redis.xadd(self.stream, alert_fields(alert))
        return 202, {"status": "accepted", "transaction_id": body["transaction_id"]}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/healthz":
            status, answer = 200, {"status": "ok"}
        elif path == "/labels":
            posted = json.loads(raw)
            self.labels.extend(posted)
            status = 202
            answer = {"status": "accepted", "accepted": len(posted), "unresolved": 0}
        elif path == "/transaction":
            status, answer = self._judge(json.loads(raw))
        else:
            results = []
            for index, body in enumerate(json.loads(raw)):
                item_status, item = self._judge(body)
                results.append({**item, "index": index, "status": item_status})
            accepted = sum(1 for r in results if r["status"] == 202)
            status = 202 if accepted == len(results) else 207
            answer = {"accepted": accepted, "results": results}
        payload = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@contextmanager
def serve(app: HttpGateway) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    port = free_ports(1)[0]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
