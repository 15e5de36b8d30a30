"""POST /labels against a recording producer: the record, the key, batches, refusals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest

from foundation.settings import Settings
from gateway.api.app import create_app
from gateway.api.producer import ProduceFailure
from tests.unit.gateway.conftest import Gateway, RecordingProducer

AT_MS = 1_752_573_600_000
LABEL: dict[str, Any] = {
    "transaction_id": "txn_1",
    "label": "fraud",
    "source": "analyst",
    "labelled_at": AT_MS,
    "user_id": "user-1",
    "merchant_id": "merchant_b",
}


class TopicRecordingProducer(RecordingProducer):
    """The recording fake, plus writes to other topics (what labels use)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_topic: list[tuple[str, bytes, bytes]] = []
        self.fail_from: int | None = None  # records from this index on are not confirmed

    async def produce_to(
        self, topic: str, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]:
        if self.failure is not None and self.fail_from is None:
            return [self.failure] * len(records)
        outcomes: list[ProduceFailure | None] = []
        for index, (key, value) in enumerate(records):
            if self.fail_from is not None and index >= self.fail_from:
                outcomes.append(self.failure)
            else:
                self.by_topic.append((topic, key, value))
                outcomes.append(None)
        return outcomes


@pytest.fixture
def labels_gateway(settings: Settings) -> Iterator[Gateway]:
    producer = TopicRecordingProducer()
    with Gateway(create_app(settings, producer=producer), producer) as running:
        yield running


def written(gateway: Gateway) -> list[tuple[str, bytes, dict[str, Any]]]:
    producer = gateway.producer
    assert isinstance(producer, TopicRecordingProducer)
    return [(topic, key, orjson.loads(value)) for topic, key, value in producer.by_topic]


def test_one_label_goes_to_the_labels_topic_keyed_by_user(labels_gateway: Gateway) -> None:
    response = labels_gateway.post("/labels", json=LABEL)

    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "accepted": 1,
        "unresolved": 0,
        "received_at": response.json()["received_at"],
    }
    assert written(labels_gateway) == [("transaction-labels", b"user-1", LABEL)]
    assert labels_gateway.producer.records == []  # nothing on the transactions topic


def test_a_batch_is_a_json_array_and_unknown_transactions_are_accepted(
    labels_gateway: Gateway,
) -> None:
    other = {"transaction_id": "never-seen", "label": "legit", "source": "chargeback"}
    response = labels_gateway.post("/labels", json=[LABEL, other])

    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert response.json()["unresolved"] == 1
    [first, second] = written(labels_gateway)
    assert first[1] == b"user-1"
    assert second[1] == b"never-seen"  # no user: keyed by the transaction
    assert second[2]["labelled_at"] == response.json()["received_at"]  # default: receipt


def test_iso_times_are_stored_as_epoch_ms(labels_gateway: Gateway) -> None:
    labels_gateway.post("/labels", json={**LABEL, "labelled_at": "2025-07-15T12:00:00+02:00"})
    assert written(labels_gateway)[0][2]["labelled_at"] == AT_MS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**LABEL, "label": "maybe"}, "label"),
        ({**LABEL, "source": "bank"}, "source"),
        ({**LABEL, "transaction_id": ""}, "transaction_id"),
        ({**LABEL, "labelled_at": "2025-07-15T10:00:00"}, "labelled_at"),
        ({**LABEL, "labelled_at": 1_752_573_600}, "labelled_at"),
        ({**LABEL, "user_id": "a b"}, "user_id"),
        ({**LABEL, "amount": 5}, "amount"),
        ("fraud", "body"),
        ([LABEL, {**LABEL, "label": "maybe"}], "[1].label"),
        ([LABEL, LABEL], "[1].transaction_id"),
        ([LABEL, 7], "[1].body"),
    ],
)
def test_bad_labels_are_422_naming_the_field_and_nothing_is_written(
    labels_gateway: Gateway, body: Any, field: str
) -> None:
    response = labels_gateway.post("/labels", json=body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "invalid_label"
    assert field in [error["field"] for error in answer["errors"]]
    assert written(labels_gateway) == []


def test_batch_limits(labels_gateway: Gateway, settings: Settings) -> None:
    assert labels_gateway.post("/labels", json=[]).json()["error"] == "empty_batch"
    too_many = [{**LABEL, "transaction_id": f"t{i}"} for i in range(settings.gateway.max_batch + 1)]
    response = labels_gateway.post("/labels", json=too_many)
    assert response.status_code == 422 and response.json()["error"] == "batch_too_large"
    assert written(labels_gateway) == []


def test_not_json_is_400(labels_gateway: Gateway) -> None:
    response = labels_gateway.post(
        "/labels", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_broker_refusal_is_503_with_the_reason(labels_gateway: Gateway) -> None:
    labels_gateway.producer.failure = ProduceFailure("broker_unavailable", "broker is down")
    response = labels_gateway.post("/labels", json=[LABEL])

    assert response.status_code == 503
    assert response.json()["error"] == "broker_unavailable"
    assert response.headers["retry-after"] == "1"


def test_partly_stored_batch_is_503_and_says_how_many(labels_gateway: Gateway) -> None:
    producer = labels_gateway.producer
    assert isinstance(producer, TopicRecordingProducer)
    producer.failure = ProduceFailure("broker_timeout", "not confirmed")
    producer.fail_from = 1
    other = {**LABEL, "transaction_id": "txn_2"}
    response = labels_gateway.post("/labels", json=[LABEL, other])

    assert response.status_code == 503
    assert "1 of 2 were stored" in response.json()["message"]


def test_a_producer_without_topics_cannot_take_labels(gateway: Gateway) -> None:
    response = gateway.post("/labels", json=LABEL)
    assert response.status_code == 503
    assert response.json()["error"] == "labels_unsupported"


def test_openapi_documents_both_shapes(labels_gateway: Gateway) -> None:
    spec = labels_gateway.get("/openapi.json").json()
    body = spec["paths"]["/labels"]["post"]["requestBody"]["content"]["application/json"]
    assert [s.get("type") for s in body["schema"]["oneOf"]] == ["object", "array"]
