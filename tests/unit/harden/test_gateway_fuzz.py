"""Thousands of schema-generated requests against the gateway in-process: no 5xx, and
every record produced is a valid transaction without a card number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import SecretStr

from foundation.settings import GatewaySettings, Settings
from gateway.api.app import create_app
from models.contracts.transaction import Transaction
from tests.unit.gateway.conftest import Gateway, RecordingProducer
from tests.unit.harden.gateway_fuzz import fuzz


class LabelRecordingProducer(RecordingProducer):
    """The fake broker, also taking labels (POST /labels), so every route is fuzzed."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[tuple[bytes, bytes]] = []

    async def produce_to(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> list[None]:
        self.labels.extend(records)
        return [None] * len(records)


EXAMPLES = 1500  # positive + negative cases: ~1,500 requests, several thousand with shrinking


@pytest.mark.timeout(600)
def test_schema_fuzzing_never_gets_a_5xx_and_stores_only_valid_records() -> None:
    producer = LabelRecordingProducer()
    settings = Settings(
        gateway=GatewaySettings(card_secret=SecretStr("fuzz-card-secret-" + "x" * 20))
    )
    app = create_app(settings, producer=producer)
    with Gateway(app, producer) as gateway:

        def send(method: str, path: str, headers: dict[str, str], params: dict[str, Any],
                 body: bytes | None) -> int:  # fmt: skip
            return gateway.request(method, path, headers=headers, params=params,
                                   content=body).status_code  # fmt: skip

        statuses = fuzz(app.openapi(), send, EXAMPLES)
    assert sum(statuses.values()) >= EXAMPLES
    assert not [s for s in statuses if s >= 500]
    for _key, value in producer.records:
        text = value.decode() if isinstance(value, bytes) else value
        assert "card_number" not in text
        Transaction.from_json(text)  # raises on anything invalid
