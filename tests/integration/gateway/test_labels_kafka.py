"""POST /labels on the real gateway and broker: the record on `transaction-labels`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from fraudctl.labels_client import LabelClient
from fraudctl.stack import StackManager
from models.contracts.label import Label
from tests.integration.gateway.topic import end_offsets, read_between

pytestmark = pytest.mark.integration

AT_MS = 1_752_573_600_000


@pytest.fixture(scope="module")
def client(stack: StackManager) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.settings.gateway.url, timeout=30) as http:
        yield http


def test_posted_labels_land_on_the_labels_topic_keyed_and_as_json(
    stack: StackManager, client: httpx.Client
) -> None:
    bootstrap, topic = stack.settings.kafka.bootstrap, stack.settings.kafka.labels_topic
    run = uuid.uuid4().hex[:8]
    start = end_offsets(bootstrap, topic)
    resolved = {
        "transaction_id": f"txn_{run}_1", "label": "fraud", "source": "analyst",
        "labelled_at": AT_MS, "user_id": f"user-{run}", "merchant_id": "merchant_b",
    }  # fmt: skip
    unresolved = {"transaction_id": f"txn_{run}_2", "label": "legit", "source": "chargeback",
                  "labelled_at": "2025-07-15T12:00:00+02:00"}  # fmt: skip

    response = client.post("/labels", json=[resolved, unresolved])

    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2 and response.json()["unresolved"] == 1
    records = read_between(bootstrap, topic, start, end_offsets(bootstrap, topic))
    ours = {r.json()["transaction_id"]: r for r in records if run in r.json()["transaction_id"]}
    assert set(ours) == {f"txn_{run}_1", f"txn_{run}_2"}
    first, second = ours[f"txn_{run}_1"], ours[f"txn_{run}_2"]
    assert first.key == f"user-{run}".encode() and first.json() == resolved
    assert second.key == f"txn_{run}_2".encode()  # no user: keyed by the transaction
    assert second.json() == {**unresolved, "labelled_at": AT_MS}
    assert Label.from_json(second.raw).labelled_at == AT_MS  # what the job will parse


def test_a_bad_label_is_422_and_nothing_reaches_the_topic(
    stack: StackManager, client: httpx.Client
) -> None:
    bootstrap, topic = stack.settings.kafka.bootstrap, stack.settings.kafka.labels_topic
    start = end_offsets(bootstrap, topic)
    good = {"transaction_id": "txn_good", "label": "fraud", "source": "analyst"}
    bad = {"transaction_id": "txn_bad", "label": "probably", "source": "analyst"}

    response = client.post("/labels", json=[good, bad])

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["[1].label"]
    assert end_offsets(bootstrap, topic) == start


def test_the_fraudctl_client_posts_through_the_same_gateway(stack: StackManager) -> None:
    bootstrap, topic = stack.settings.kafka.bootstrap, stack.settings.kafka.labels_topic
    start = end_offsets(bootstrap, topic)
    label = Label(f"txn_{uuid.uuid4().hex[:8]}", "fraud", "simulator", AT_MS, user_id="u9")
    with LabelClient(stack.settings.gateway.url) as poster:
        assert poster.post([label]).accepted == 1
    records = read_between(bootstrap, topic, start, end_offsets(bootstrap, topic))
    assert [Label.from_json(r.raw) for r in records if r.key == b"u9"] == [label]
