"""The one way fraudctl posts labels: `POST /labels` on the gateway.

The console's f/n keys, `fraudctl label` and `fraudctl simulate` all go through
`LabelClient.post`, so every label reaches the job by the same road (the gateway validates
it and confirms it is in Kafka). Blocking on purpose: callers on an event loop run it in a
worker thread (`asyncio.to_thread`), which also keeps it off their send loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from foundation.settings import GATEWAY_CLIENT_IDLE_S, gateway_auth_headers
from models.contracts.label import Label

_JSON = {"content-type": "application/json"}


class LabelPostError(RuntimeError):
    """The gateway did not take the labels; `retryable` says whether resending may work."""

    def __init__(self, reason: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Posted:
    """The gateway's 202: how many labels are stored, how many lack user/merchant."""

    accepted: int
    unresolved: int


def _refusal(status: int, content: bytes) -> LabelPostError:
    try:
        payload: Any = orjson.loads(content)
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return LabelPostError(
            f"http_{status}", f"the gateway answered HTTP {status}", retryable=True
        )
    reason = str(payload.get("error") or f"http_{status}")
    message = str(payload.get("message") or f"HTTP {status}")
    fields = [
        f"{item.get('field', '?')} {item.get('message', '')}"
        for item in payload.get("errors") or []
        if isinstance(item, dict)
    ]
    if fields:
        message = f"{message}: " + "; ".join(fields[:5]) + ("; ..." if len(fields) > 5 else "")
    return LabelPostError(reason, message, retryable=status >= 500 or status == 429)


class LabelClient:
    """Posts labels to one gateway over a keep-alive connection."""

    def __init__(
        self,
        gateway_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        auth_headers: dict[str, str] | None = None,
    ) -> None:
        self.url = gateway_url.rstrip("/") + "/labels"
        # The gateway's API key (default: from the process settings' secrets).
        headers = auth_headers if auth_headers is not None else gateway_auth_headers()
        limits = httpx.Limits(keepalive_expiry=GATEWAY_CLIENT_IDLE_S)
        self._client = httpx.Client(
            timeout=timeout_s, transport=transport, headers=headers, limits=limits
        )

    def post(self, labels: Sequence[Label]) -> Posted:
        """One request for all of `labels` (keep it within the gateway's batch limit)."""
        if not labels:
            return Posted(0, 0)
        body = orjson.dumps([label.to_record() for label in labels])
        try:
            response = self._client.post(self.url, content=body, headers=_JSON)
        except httpx.HTTPError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LabelPostError(
                "unreachable",
                f"cannot reach the gateway at {self.url} ({detail}): is the stack up "
                "(`fraudctl up`)?",
                retryable=True,
            ) from None
        if response.status_code != 202:
            raise _refusal(response.status_code, response.content)
        answer = orjson.loads(response.content)
        return Posted(int(answer.get("accepted", len(labels))), int(answer.get("unresolved", 0)))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LabelClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
