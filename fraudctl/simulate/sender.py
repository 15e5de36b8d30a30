"""Talking to the gateway: one pooled async HTTP client, single or batch requests, and a
gate that pauses sending (with growing backoff) while the gateway is down.

Every outcome is reduced to a status (an HTTP code, or `unreachable` / `timeout` /
`connection_lost`) plus the gateway's own error code and message, so refusals can be
counted and shown with the reason the gateway gave.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from foundation.settings import GATEWAY_CLIENT_IDLE_S, gateway_auth_headers
from fraudctl.simulate.stats import ACCEPTED, CONNECTION_LOST, TIMEOUT, UNREACHABLE

_JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one transaction."""

    status: int | str
    error: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    @property
    def gateway_down(self) -> bool:
        """A sign the gateway (or its broker) cannot take anything right now."""
        return self.status in (UNREACHABLE, 503)


@dataclass(frozen=True, slots=True)
class HealthAnswer:
    reachable: bool
    ok: bool
    detail: str


def _reason(payload: Any) -> tuple[str, str]:
    """(error code, message with the field-level reasons) from a gateway error body."""
    if not isinstance(payload, dict):
        return "", ""
    error = str(payload.get("error") or "")
    message = str(payload.get("message") or "")
    fields = payload.get("errors") or []
    details = [
        f"{item.get('field', '?')}: {item.get('message', '')}"
        for item in fields
        if isinstance(item, dict)
    ]
    if details:
        message = "; ".join(details[:3]) + ("; ..." if len(details) > 3 else "")
    return error, message


def _transport_outcome(exc: httpx.HTTPError) -> Outcome:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return Outcome(UNREACHABLE, "unreachable", _short(exc) or "connection refused")
    if isinstance(exc, httpx.PoolTimeout):
        return Outcome(TIMEOUT, "pool_timeout", "waited too long for a free connection")
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(TIMEOUT, "timeout", "no answer within the request timeout")
    return Outcome(CONNECTION_LOST, "connection_lost", _short(exc) or type(exc).__name__)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:160]


def _decode(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


class GatewaySender:
    """POST /transaction or /transactions over a keep-alive connection pool.

    Requests go straight to httpx's pooled transport: the client layer (cookies,
    redirects, URL merging) costs more CPU than the request itself, and a simulator at
    a thousand requests a second needs none of it. The request timeout covers the
    exchange itself; time spent waiting for a free connection shows in the latency the
    runner measures from each transaction's due time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connections: int = 32,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The gateway's API key (default: from the process settings' secrets).
        auth = auth_headers if auth_headers is not None else gateway_auth_headers()
        self._headers = {**_JSON, **auth}
        self._bare_headers = auth or None
        # One single-connection pool per connection, handed out from a LIFO queue:
        # httpcore's shared pool rescans every connection (a poll() each) and every queued
        # request on each event, which costs more CPU than the request once it is busy.
        if transport is not None:
            self._transports: list[httpx.AsyncBaseTransport] = [transport]
        else:
            tls = httpx.create_ssl_context()  # loading CA certificates once, not per pool
            self._transports = [
                httpx.AsyncHTTPTransport(
                    verify=tls,
                    limits=httpx.Limits(
                        max_connections=1,
                        max_keepalive_connections=1,
                        keepalive_expiry=GATEWAY_CLIENT_IDLE_S,
                    ),
                    retries=0,
                )
                for _ in range(connections)
            ]
        self._free: asyncio.LifoQueue[httpx.AsyncBaseTransport] = asyncio.LifoQueue()
        for index in range(connections):
            self._free.put_nowait(self._transports[index % len(self._transports)])
        self._timeout = {
            "connect": timeout_s,
            "read": timeout_s,
            "write": timeout_s,
            "pool": timeout_s,
        }
        self._one = httpx.URL(f"{self.base_url}/transaction")
        self._many = httpx.URL(f"{self.base_url}/transactions")
        self._health = httpx.URL(f"{self.base_url}/healthz")

    async def close(self) -> None:
        for transport in self._transports:
            await transport.aclose()

    async def _call(
        self,
        method: str,
        url: httpx.URL,
        content: bytes | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, bytes]:
        timeout = self._timeout if timeout_s is None else dict.fromkeys(self._timeout, timeout_s)
        request = httpx.Request(
            method, url, headers=self._headers if content is not None else self._bare_headers,
            content=content,
            extensions={"timeout": timeout},
        )  # fmt: skip
        transport = await self._free.get()
        try:
            response = await transport.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        finally:
            self._free.put_nowait(transport)
        return response.status_code, body

    async def send_one(self, body: dict[str, Any]) -> Outcome:
        try:
            status, content = await self._call("POST", self._one, orjson.dumps(body))
        except httpx.HTTPError as exc:
            return _transport_outcome(exc)
        if status == ACCEPTED:
            return Outcome(ACCEPTED)
        error, message = _reason(_decode(content))
        return Outcome(status, error or f"http_{status}", message)

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> list[Outcome]:
        """One outcome per body, in order, from the gateway's per-item results."""
        try:
            status, content = await self._call("POST", self._many, orjson.dumps(list(bodies)))
        except httpx.HTTPError as exc:
            return [_transport_outcome(exc)] * len(bodies)
        payload = _decode(content)
        results = payload.get("results") if isinstance(payload, dict) else None
        if isinstance(results, list) and len(results) == len(bodies):
            return [self._item(item) for item in results]
        # Refused as a whole (too large, not JSON, ...): every item shares the reason.
        error, message = _reason(payload)
        whole = Outcome(status, error or f"http_{status}", message)
        return [whole] * len(bodies)

    @staticmethod
    def _item(item: Any) -> Outcome:
        if not isinstance(item, dict):
            return Outcome(
                CONNECTION_LOST, "bad_response", "the gateway's batch answer is malformed"
            )
        status = item.get("status")
        if not isinstance(status, int):
            return Outcome(CONNECTION_LOST, "bad_response", "a batch item has no HTTP status")
        if status == ACCEPTED:
            return Outcome(ACCEPTED)
        error, message = _reason(item)
        return Outcome(status, error or f"http_{status}", message)

    async def health(self, timeout_s: float = 3.0) -> HealthAnswer:
        """GET /healthz: can we connect, and does the gateway say its broker takes writes?"""
        try:
            status, content = await self._call("GET", self._health, timeout_s=timeout_s)
        except httpx.HTTPError as exc:
            outcome = _transport_outcome(exc)
            return HealthAnswer(False, False, outcome.message or str(outcome.status))
        if status == 200:
            return HealthAnswer(True, True, "ok")
        payload = _decode(content)
        detail = ""
        if isinstance(payload, dict):
            detail = str(payload.get("message") or payload.get("status") or "")
        return HealthAnswer(True, False, f"HTTP {status} {detail}".strip())


class BackoffGate:
    """Closed while the gateway answers; opened by a connection failure or a run of 503s,
    then probed with GET /healthz at growing intervals (0.5 s doubling up to `max_s`)
    until it answers 200. While open, the scheduler skips slots instead of sending."""

    def __init__(
        self,
        sender: GatewaySender,
        *,
        max_s: float = 10.0,
        first_s: float = 0.5,
        unavailable_streak: int = 3,
    ) -> None:
        self.sender = sender
        self.max_s = max_s
        self.first_s = min(first_s, max_s)
        self.unavailable_streak = unavailable_streak
        self.is_open = False
        self.reason = ""
        self.retry_at: float | None = None
        self.trips = 0
        self._streak = 0
        self._probe: asyncio.Task[None] | None = None

    def observe(self, outcome: Outcome) -> None:
        """Feed every outcome; trips on `unreachable` at once, on 503s after a streak."""
        if not outcome.gateway_down:
            if outcome.status != TIMEOUT:
                self._streak = 0
            return
        self._streak += 1
        if outcome.status == UNREACHABLE or self._streak >= self.unavailable_streak:
            what = "unreachable" if outcome.status == UNREACHABLE else "answering 503"
            detail = f": {outcome.message}" if outcome.message else ""
            self.trip(f"gateway {what}{detail}")

    def trip(self, reason: str) -> None:
        if self.is_open:
            return
        self.is_open = True
        self.reason = reason
        self.trips += 1
        self._probe = asyncio.create_task(self._probe_until_healthy())

    async def _probe_until_healthy(self) -> None:
        delay = self.first_s
        while True:
            self.retry_at = time.monotonic() + delay
            await asyncio.sleep(delay)
            answer = await self.sender.health()
            if answer.ok:
                self.is_open, self.reason, self.retry_at, self._streak = False, "", None, 0
                return
            self.reason = (
                f"gateway unreachable: {answer.detail}"
                if not answer.reachable
                else f"gateway not ready: {answer.detail}"
            )
            delay = min(delay * 2, self.max_s)

    @property
    def retry_in_s(self) -> float | None:
        return None if self.retry_at is None else max(0.0, self.retry_at - time.monotonic())

    async def close(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
