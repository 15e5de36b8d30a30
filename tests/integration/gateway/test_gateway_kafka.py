"""The gateway process started by the stack manager, against the real Kafka broker."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.settings import GATEWAY_CLIENT_IDLE_S
from fraudctl.stack import StackManager
from models.contracts.transaction import Transaction
from tests.integration.gateway.topic import Record, end_offsets, read_between
from tests.unit.gateway.samples import (
    CARD_DIGITS,
    SEED_FRAUD_CURL_BODY,
    SEED_NORMAL,
    SEED_NORMAL_CURL_BODY,
)
from tests.unit.gateway.test_validation_table import FIELD_CASES, RAW_CASES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway_url(stack: StackManager) -> str:
    return stack.settings.gateway.url


@pytest.fixture(scope="module")
def client(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        yield http


def _topic(stack: StackManager) -> tuple[str, str]:
    return stack.settings.kafka.bootstrap, stack.settings.kafka.transactions_topic


def _curl(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The seed README's curl command, verbatim but for host and port."""
    result = subprocess.run(
        [
            "curl", "-sS", "-w", "\n%{http_code}",
            "-X", "POST", f"{url}/transaction",
            "-H", "Content-Type: application/json",
            "-d", body.decode(),
        ],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    text, _newline, status = result.stdout.decode().rpartition("\n")
    return int(status), orjson.loads(text)


def test_seed_curls_are_accepted_and_land_on_the_topic_keyed_and_masked(
    stack: StackManager, gateway_url: str
) -> None:
    bootstrap, topic = _topic(stack)
    start = end_offsets(bootstrap, topic)

    answers = [_curl(gateway_url, body) for body in (SEED_NORMAL_CURL_BODY, SEED_FRAUD_CURL_BODY)]

    assert [status for status, _answer in answers] == [202, 202], answers
    received = {answer["transaction_id"]: answer["received_at"] for _status, answer in answers}
    records = read_between(bootstrap, topic, start, end_offsets(bootstrap, topic))
    ours = [
        r for r in records if received.get(r.json()["transaction_id"]) == r.json()["received_at"]
    ]
    assert sorted(r.json()["transaction_id"] for r in ours) == ["txn_fraud_002", "txn_normal_001"]
    secret = stack.settings.gateway.card_secret.get_secret_value().encode()
    fingerprint = hmac.new(secret, CARD_DIGITS.encode(), hashlib.sha256).hexdigest()
    for record in ours:
        value = record.json()
        assert record.key == b"user-test-123"
        assert value["card_last4"] == "4242"
        assert value["card_fingerprint"] == fingerprint
        assert "card_number" not in value
        assert CARD_DIGITS not in record.raw.decode()
        assert "4242-4242-4242-4242" not in record.raw.decode()
        transaction = Transaction.from_record(value)
        assert transaction.currency == "USD"
        assert transaction.to_record() == value
    assert len({r.partition for r in ours}) == 1  # same key, same partition, in order
    assert [r.json()["transaction_id"] for r in ours] == ["txn_normal_001", "txn_fraud_002"]


def test_batch_lands_every_item_on_the_topic(stack: StackManager, client: httpx.Client) -> None:
    bootstrap, topic = _topic(stack)
    marker = uuid.uuid4().hex[:12]
    batch = [
        dict(SEED_NORMAL, transaction_id=f"b-{marker}-{i}", user_id=f"user-{i % 7}")
        for i in range(200)
    ]
    start = end_offsets(bootstrap, topic)

    response = client.post("/transactions", json=batch)

    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 200
    records = read_between(bootstrap, topic, start, end_offsets(bootstrap, topic))
    ours = {r.json()["transaction_id"]: r for r in records if marker in r.json()["transaction_id"]}
    assert len(ours) == 200
    for item in batch:
        assert ours[item["transaction_id"]].key == item["user_id"].encode()


# -- bad input never reaches the topic ------------------------------------------------------

BAD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "amount": st.floats(max_value=0, allow_infinity=False)
    | st.floats(min_value=1e6 + 1, allow_infinity=False)
    | st.text(max_size=8)
    | st.booleans()
    | st.none(),
    "timestamp": st.datetimes(min_value=datetime(2001, 1, 1)).map(datetime.isoformat)
    | st.text(alphabet="abcxyz/: ", max_size=20)
    | st.integers(),
    "card_number": st.text(alphabet="0123456789", min_size=1, max_size=11)
    | st.text(alphabet="0123456789", min_size=20, max_size=30)
    | st.text(alphabet="abc_+*", min_size=1, max_size=19)
    | st.integers(),
    "user_id": st.text(min_size=65, max_size=80) | st.just("") | st.text(" <>;\"'", min_size=1),
    "currency": st.text(alphabet="abcdefghij", min_size=3, max_size=3) | st.integers(),
    "latitude": st.floats(min_value=90.0001, max_value=1e9)
    | st.floats(max_value=-90.0001, allow_infinity=False),
}
FIELD_NAMES = sorted(BAD_VALUES)


def _marked(marker: str, n: int) -> dict[str, Any]:
    return dict(
        SEED_NORMAL,
        transaction_id=f"bad-{marker}-{n}",
        merchant_id=f"m-{marker}",
        location=f"Loc {marker}",
    )


def test_bad_inputs_get_4xx_and_none_reaches_the_topic(
    stack: StackManager, client: httpx.Client
) -> None:
    bootstrap, topic = _topic(stack)
    marker = uuid.uuid4().hex
    start = end_offsets(bootstrap, topic)
    statuses: list[int] = []

    for n, (_case, body, _field, _kind) in enumerate(FIELD_CASES):
        marked = dict(body)
        for name, value in _marked(marker, n).items():
            if name in marked and marked[name] == SEED_NORMAL.get(name):
                marked[name] = value  # tag the fields the case leaves alone
        statuses.append(client.post("/transaction", json=marked).status_code)
    for _case, raw, content_type, _status, _error in RAW_CASES:
        headers = {"content-type": content_type} if content_type else {}
        statuses.append(client.post("/transaction", content=raw, headers=headers).status_code)

    counter = iter(range(10_000, 20_000))

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(field=st.sampled_from(FIELD_NAMES), data=st.data())
    def post_one_bad_field(field: str, data: st.DataObject) -> None:
        body = _marked(marker, next(counter))
        body[field] = data.draw(BAD_VALUES[field])
        if field == "latitude":
            body["longitude"] = 0.0
        response = client.post("/transaction", json=body)
        assert response.status_code == 422, (field, body[field], response.text)
        assert response.json()["errors"][0]["message"]

    post_one_bad_field()
    all_bad_batch = [dict(_marked(marker, i), amount=-i) for i in range(5)]
    statuses.append(client.post("/transactions", json=all_bad_batch).status_code)
    # Positive control: a valid, marked transaction must show up in the same window.
    control = _marked(marker, 99_999)
    assert client.post("/transaction", json=control).status_code == 202

    assert all(400 <= status < 500 for status in statuses), statuses
    assert len(statuses) >= 50
    records = read_between(bootstrap, topic, start, end_offsets(bootstrap, topic))
    marked_records: list[Record] = [r for r in records if marker.encode() in r.raw]
    assert [r.json()["transaction_id"] for r in marked_records] == [control["transaction_id"]]


def test_health_metrics_and_docs_on_the_real_broker(client: httpx.Client) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["broker_reachable"] is True
    assert health.json()["topic_exists"] is True

    assert client.get("/health").json() == {"api_status": "ok", "kafka_status": "connected"}

    metrics = client.get("/metrics").text
    assert "gateway_broker_up 1.0" in metrics.splitlines()
    assert "gateway_transactions_accepted_total" in metrics

    assert client.get("/docs").status_code == 200


def test_an_idle_connection_outlives_every_client_idle_limit(stack: StackManager) -> None:
    """A request written just as the gateway closes an idle connection is lost in flight, so
    the gateway keeps idle connections open past the point where clients give them up
    (fraudctl's own after 4 s, uvicorn's default would close them at 5 s)."""
    settings = stack.settings
    connection = http.client.HTTPConnection(settings.gateway.host, settings.gateway.port, 5)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        first.read()
        assert first.status == 200
        first_socket = connection.sock
        assert first_socket is not None
        time.sleep(GATEWAY_CLIENT_IDLE_S + 2)
        connection.request("GET", "/healthz")  # on the same socket: http.client keeps it
        try:
            second = connection.getresponse()
        except http.client.RemoteDisconnected:
            pytest.fail("the gateway closed an idle connection early")
        assert second.status == 200 and connection.sock is first_socket
    finally:
        connection.close()
    assert settings.gateway.keep_alive_s > GATEWAY_CLIENT_IDLE_S + 2
