"""POST /transactions: per-item results, only valid items produced, limits enforced."""

from __future__ import annotations

import orjson

from gateway.api.producer import ProduceFailure
from tests.unit.gateway.conftest import Gateway
from tests.unit.gateway.samples import SEED_FRAUD, SEED_NORMAL, with_changes


def test_all_valid_batch_is_202_and_every_item_produced_in_order(gateway: Gateway) -> None:
    batch = [with_changes(SEED_NORMAL, transaction_id=f"txn_{i}") for i in range(20)]

    response = gateway.post("/transactions", json=batch)

    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"], answer["failed"]) == (20, 0, 0)
    assert [r["status"] for r in answer["results"]] == [202] * 20
    produced_ids = [v["transaction_id"] for v in gateway.producer.values()]
    assert produced_ids == [f"txn_{i}" for i in range(20)]


def test_mixed_batch_is_207_and_only_valid_items_are_produced(gateway: Gateway) -> None:
    batch = [
        SEED_NORMAL,
        with_changes(SEED_FRAUD, amount=-1),
        "not an object",
        SEED_FRAUD,
        with_changes(SEED_NORMAL, transaction_id="txn_3", card_number="4242424242424241"),
    ]

    response = gateway.post("/transactions", json=batch)

    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 422, 422, 202, 422]
    assert results[1]["errors"][0]["field"] == "amount"
    assert results[2]["errors"][0]["field"] == "body"
    assert results[4]["transaction_id"] == "txn_3"
    assert [v["transaction_id"] for v in gateway.producer.values()] == [
        "txn_normal_001",
        "txn_fraud_002",
    ]


def test_duplicate_ids_within_a_batch_are_refused_after_the_first(gateway: Gateway) -> None:
    response = gateway.post("/transactions", json=[SEED_NORMAL, SEED_NORMAL])

    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 422]
    assert results[1]["errors"][0]["type"] == "duplicate_in_batch"
    assert "index 0" in results[1]["errors"][0]["message"]
    assert len(gateway.producer.records) == 1


def test_all_invalid_batch_is_422_and_nothing_produced(gateway: Gateway) -> None:
    batch = [with_changes(SEED_NORMAL, amount=0), with_changes(SEED_NORMAL, timestamp="x")]

    response = gateway.post("/transactions", json=batch)

    assert response.status_code == 422
    assert response.json()["rejected"] == 2
    assert gateway.producer.records == []


def test_broker_failure_makes_valid_items_503_never_202(gateway: Gateway) -> None:
    gateway.producer.failure = ProduceFailure("broker_unavailable", "broker is down")
    batch = [SEED_NORMAL, with_changes(SEED_FRAUD, amount=0)]

    response = gateway.post("/transactions", json=batch)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    results = response.json()["results"]
    assert [r["status"] for r in results] == [503, 422]
    assert results[0]["error"] == "broker_unavailable"


def test_batch_shape_errors(gateway: Gateway) -> None:
    cases = {
        "invalid_batch": orjson.dumps(SEED_NORMAL),
        "empty_batch": b"[]",
        "batch_too_large": orjson.dumps([SEED_NORMAL] * 51),
    }
    for error, body in cases.items():
        response = gateway.post(
            "/transactions", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, error
        assert response.json()["error"] == error
        assert len(response.json()["message"]) > 15
    assert gateway.producer.records == []


def test_oversize_batch_body_is_413(gateway: Gateway) -> None:
    batch = [with_changes(SEED_NORMAL, transaction_id=f"t{i}") for i in range(49)]
    body = orjson.dumps(batch) + b" " * 65536

    response = gateway.post(
        "/transactions", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert gateway.producer.records == []
