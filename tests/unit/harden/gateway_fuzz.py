"""Property-based requests from the gateway's own OpenAPI schema (schemathesis + hypothesis).

Shared by the in-process unit test and the test against the real gateway: `fuzz` sends
every generated case through `send` and counts the answers by status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

Send = Callable[[str, str, dict[str, str], dict[str, Any], bytes | None], int]
SKIP_HEADERS = {"connection", "accept-encoding", "user-agent"}


def fuzz(openapi: dict[str, Any], send: Send, examples: int) -> Counter[int]:
    """Send `examples` positive and as many negative cases; statuses counted."""
    schema = schemathesis.openapi.from_dict(openapi)
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE)
    )
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(cases)
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="")
        headers = {
            key: str(value)
            for key, value in (kwargs.get("headers") or {}).items()
            if key.lower() not in SKIP_HEADERS
        }
        body = kwargs.get("data")
        if body is None and "json" in kwargs:
            import json

            body = json.dumps(kwargs["json"]).encode()
        if isinstance(body, str):
            body = body.encode()
        status = send(kwargs["method"], case.formatted_path, headers, kwargs.get("params") or {},
                      body)  # fmt: skip
        statuses[status] += 1
        assert status < 500, f"{case.method} {case.formatted_path}: {status}"

    run()
    return statuses
