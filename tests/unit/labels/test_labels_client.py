"""The one client that posts labels, the bounded Redis mirror, and console quality."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import redis

from fraudctl.alerts.labels import LabelStore, Verdict, display_value
from fraudctl.alerts.quality import QualityTracker, detection_quality
from fraudctl.decision_lookup import match
from fraudctl.labels_client import LabelClient, LabelPostError
from models.contracts.label import Label

AT_MS = 1_752_573_600_000


def label(txn: str = "txn_1", value: str = "fraud", source: str = "analyst") -> Label:
    return Label(txn, value, source, AT_MS, user_id="u1", merchant_id="m1")  # type: ignore[arg-type]


def client_answering(status: int, body: Any, seen: list[httpx.Request]) -> LabelClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return LabelClient("http://gw/", transport=httpx.MockTransport(handle))


def test_post_sends_one_json_array_to_post_labels() -> None:
    seen: list[httpx.Request] = []
    client = client_answering(202, {"status": "accepted", "accepted": 2, "unresolved": 1}, seen)
    posted = client.post([label("a"), label("b", "legit")])

    assert (posted.accepted, posted.unresolved) == (2, 1)
    [request] = seen
    assert request.method == "POST" and str(request.url) == "http://gw/labels"
    assert request.headers["content-type"] == "application/json"
    assert [item["transaction_id"] for item in orjson.loads(request.content)] == ["a", "b"]


def test_nothing_to_post_sends_nothing() -> None:
    seen: list[httpx.Request] = []
    assert client_answering(202, {}, seen).post([]).accepted == 0
    assert seen == []


@pytest.mark.parametrize(
    ("status", "body", "retryable", "words"),
    [
        (503, {"error": "broker_unavailable", "message": "broker down"}, True, "broker down"),
        (
            422,
            {"error": "invalid_label", "message": "not accepted",
             "errors": [{"field": "[0].label", "message": "is not a known label"}]},
            False,
            "[0].label is not a known label",
        ),
        (500, "oops", True, "HTTP 500"),
    ],
)  # fmt: skip
def test_refusals_say_why_and_whether_to_retry(
    status: int, body: Any, retryable: bool, words: str
) -> None:
    with pytest.raises(LabelPostError) as caught:
        client_answering(status, body, []).post([label()])
    assert caught.value.retryable is retryable
    assert words in caught.value.message


def test_unreachable_gateway_is_retryable_and_names_the_fix() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = LabelClient("http://gw", transport=httpx.MockTransport(refuse))
    with pytest.raises(LabelPostError) as caught:
        client.post([label()])
    assert caught.value.retryable and "fraudctl up" in caught.value.message


def test_display_values() -> None:
    assert display_value(label(source="analyst")) == "confirmed_fraud"
    assert display_value(label(value="legit", source="analyst")) == "false_positive"
    assert display_value(label(value="legit", source="simulator")) == "legit"
    assert Verdict.FALSE_POSITIVE.label == "legit" and Verdict.CONFIRMED_FRAUD.label == "fraud"


def test_mirror_is_one_key_per_label_with_a_ttl_and_lookups_by_id(
    redis_client: redis.Redis,
) -> None:
    store = LabelStore(redis_client, "fraud:labels", ttl_s=600)
    store.record([label("a"), label("b", "legit", "simulator")])
    store.record([label("a", "legit")])  # an analyst changes their mind: newest wins

    assert store.get_many(["a", "b", "c", "a"]) == {"a": "false_positive", "b": "legit"}
    assert 0 < redis_client.ttl("fraud:labels:a") <= 600
    assert redis_client.type("fraud:labels") in ("none", b"none")  # no ever-growing hash
    assert store.get_many([]) == {}


def test_console_quality_uses_only_the_ids_it_shows(redis_client: redis.Redis) -> None:
    store = LabelStore(redis_client, "fraud:labels")
    store.record([label("a"), label("b", "legit"), label("missed")])
    quality, labels = QualityTracker(store).refresh(["a", "b", "x"])

    assert labels == {"a": "confirmed_fraud", "b": "false_positive"}
    assert (quality.true_positives, quality.false_positives) == (1, 1)
    assert quality.precision == 0.5 and quality.labelled == 2
    assert quality.false_negatives is None and quality.recall is None  # misses unknowable


def test_detection_quality_without_misses() -> None:
    quality = detection_quality(["a"], {"a": "fraud", "z": "fraud"}, count_misses=False)
    assert quality.recall is None and quality.precision == 1.0


def test_decision_lookup_matches_the_exact_transaction_only() -> None:
    record = {"transaction_id": "txn_1", "user_id": "u1", "merchant_id": "m1",
              "card_fingerprint": "ab", "score": 0.2}  # fmt: skip
    value = orjson.dumps(record)
    found = match(value, "txn_1", orjson.dumps("txn_1"))
    assert found is not None
    assert (found.user_id, found.merchant_id, found.card_fingerprint) == ("u1", "m1", "ab")
    assert match(value, "txn_", orjson.dumps("txn_")) is None  # a prefix is no match
    assert match(b"not json txn_1", "txn_1", b"txn_1") is None
    assert match(None, "txn_1", b'"txn_1"') is None
