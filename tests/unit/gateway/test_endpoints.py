"""Single endpoint outcomes, the Kafka record, health, metrics, docs, and card hygiene."""

from __future__ import annotations

import hashlib
import hmac
import logging

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from foundation.settings import Settings
from gateway.api.app import create_app
from gateway.api.producer import ProduceFailure
from models.contracts.card import CardMasker
from tests.unit.gateway.conftest import CARD_SECRET, Gateway, RecordingProducer
from tests.unit.gateway.samples import CARD_DIGITS, SEED_FRAUD, SEED_NORMAL, with_changes


def test_seed_transaction_becomes_the_documented_kafka_record(gateway: Gateway) -> None:
    response = gateway.post("/transaction", json=SEED_FRAUD)

    assert response.status_code == 202
    answer = response.json()
    [(key, _value)] = gateway.producer.records
    [record] = gateway.producer.values()
    assert key == b"user-test-123"
    assert record == {
        "transaction_id": "txn_fraud_002",
        "user_id": "user-test-123",
        "card_last4": "4242",
        "card_fingerprint": hmac.new(
            CARD_SECRET.encode(), CARD_DIGITS.encode(), hashlib.sha256
        ).hexdigest(),
        "amount": 5000.0,
        "currency": "USD",
        "timestamp": "2025-07-15T10:01:00Z",
        "merchant_id": "merchant_b",
        "location": "Online",
        "received_at": answer["received_at"],
    }
    assert answer == {
        "status": "accepted",
        "transaction_id": "txn_fraud_002",
        "received_at": answer["received_at"],
    }


def test_offset_timestamps_are_normalised_to_utc(gateway: Gateway) -> None:
    gateway.post(
        "/transaction", json=with_changes(SEED_NORMAL, timestamp="2025-07-15T12:00:00+02:00")
    )

    assert gateway.producer.values()[0]["timestamp"] == "2025-07-15T10:00:00Z"


def test_broker_refusal_is_503_with_reason_never_202(gateway: Gateway) -> None:
    gateway.producer.failure = ProduceFailure("broker_timeout", "not confirmed within 5s")

    response = gateway.post("/transaction", json=SEED_NORMAL)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "error": "broker_timeout",
        "message": "not confirmed within 5s",
        "errors": [],
    }


def test_healthz_reflects_the_broker(gateway: Gateway) -> None:
    ok = gateway.get("/healthz")
    assert ok.status_code == 200
    assert ok.json()["status"] == "ok"

    gateway.producer.reachable = False
    down = gateway.get("/healthz")
    assert down.status_code == 503
    assert down.json()["broker_reachable"] is False
    assert down.json()["message"]


def test_health_answers_like_the_original_system(gateway: Gateway) -> None:
    up = gateway.get("/health")
    assert up.status_code == 200
    assert up.json() == {"api_status": "ok", "kafka_status": "connected"}
    assert list(up.json()) == ["api_status", "kafka_status"]

    gateway.producer.reachable = False
    down = gateway.get("/health")
    assert down.status_code == 200
    assert down.json() == {"api_status": "ok", "kafka_status": "disconnected"}


def test_metrics_count_requests_acceptances_and_rejections(gateway: Gateway) -> None:
    gateway.post("/transaction", json=SEED_NORMAL)
    gateway.post("/transaction", json=with_changes(SEED_NORMAL, amount=-1))
    gateway.post("/transaction", content=b"{", headers={"content-type": "application/json"})
    gateway.producer.failure = ProduceFailure("broker_unavailable", "down")
    gateway.post("/transaction", json=SEED_NORMAL)

    response = gateway.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = scrape(response.text)
    assert samples[("gateway_requests_total", ("POST", "/transaction", "202"))] == 1
    assert samples[("gateway_requests_total", ("POST", "/transaction", "422"))] == 1
    assert samples[("gateway_transactions_accepted_total", ())] == 1
    assert samples[("gateway_transactions_rejected_total", ("invalid_amount",))] == 1
    assert samples[("gateway_transactions_rejected_total", ("malformed_json",))] == 1
    assert samples[("gateway_transactions_rejected_total", ("broker_unavailable",))] == 1
    assert samples[("gateway_produce_latency_seconds_count", ())] == 2
    assert samples[("gateway_produce_latency_seconds_bucket", ("+Inf",))] == 2
    assert samples[("gateway_broker_up", ())] == 1
    assert samples[("gateway_producer_queue_records", ())] == 0
    assert "_created" not in response.text


def test_metrics_label_routes_by_template_never_by_raw_path(gateway: Gateway) -> None:
    gateway.get("/health")
    gateway.get("/no/such/page")
    gateway.post(
        "/transaction", content=b"x" * 70_000, headers={"content-type": "application/json"}
    )

    samples = scrape(gateway.get("/metrics").text)

    assert samples[("gateway_requests_total", ("GET", "/health", "200"))] == 1
    assert samples[("gateway_requests_total", ("GET", "other", "404"))] == 1
    assert samples[("gateway_requests_total", ("POST", "/transaction", "413"))] == 1
    assert not [key for key in samples if "/no/such/page" in key[1]]


def scrape(text: str) -> dict[tuple[str, tuple[str, ...]], float]:
    """Samples by (name, label values in the exposition's order), parsed by the reference parser."""
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_docs_and_openapi_describe_both_endpoints(gateway: Gateway) -> None:
    assert gateway.get("/docs").status_code == 200
    spec = gateway.get("/openapi.json").json()

    single = spec["paths"]["/transaction"]["post"]
    batch = spec["paths"]["/transactions"]["post"]
    schema = single["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    assert "card_number" in schema["required"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"
    assert {"202", "422", "503"} <= set(single["responses"])


def test_card_number_never_appears_in_logs_responses_or_records(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = [
        SEED_NORMAL,
        with_changes(SEED_NORMAL, amount=-1),
        with_changes(SEED_NORMAL, card_number="4242424242424241"),
        with_changes(SEED_NORMAL, surprise="field"),
    ]
    texts = [gateway.post("/transaction", json=body).text for body in bodies]
    texts.append(gateway.post("/transactions", json=bodies).text)
    gateway.producer.failure = ProduceFailure("broker_unavailable", "down")
    texts.append(gateway.post("/transaction", json=SEED_NORMAL).text)

    seen = "\n".join([*texts, caplog.text, *(v.decode() for _k, v in gateway.producer.records)])
    assert CARD_DIGITS not in seen
    assert "4242424242424241" not in seen
    assert "4242-4242-4242-4242" not in seen


def test_lifespan_starts_and_closes_the_producer(settings: Settings) -> None:
    producer = RecordingProducer()
    with Gateway(create_app(settings, producer=producer), producer):
        assert producer.started
        assert not producer.closed
    assert producer.closed


def test_card_masker_keeps_last4_and_keyed_fingerprint_only() -> None:
    masker = CardMasker("secret-a")

    masked = masker.mask(CARD_DIGITS)

    assert masked.last4 == "4242"
    assert masked.fingerprint == masker.mask(CARD_DIGITS).fingerprint
    assert masked.fingerprint != CardMasker("secret-b").mask(CARD_DIGITS).fingerprint
    assert masked.fingerprint != hashlib.sha256(CARD_DIGITS.encode()).hexdigest()
    assert "secret-a" not in repr(masker)
    with pytest.raises(ValueError, match="CARD_SECRET"):
        CardMasker("")


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/x+json"]
)
def test_json_media_type_variants_are_accepted(gateway: Gateway, content_type: str) -> None:
    response = gateway.post(
        "/transaction", content=orjson.dumps(SEED_NORMAL), headers={"content-type": content_type}
    )

    assert response.status_code == 202, response.text
