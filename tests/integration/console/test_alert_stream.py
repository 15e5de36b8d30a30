"""fraudctl.alerts against a real Redis: readers keep their own position, labels, quality."""

from __future__ import annotations

import pytest
import redis

from fraudctl.alerts import (
    AlertStreamReader,
    LabelStore,
    QualityTracker,
    alert_fields,
)
from models.contracts.label import Label
from tests.fixtures.alerts import make_alert

pytestmark = pytest.mark.integration

STREAM = "fraud:alerts"


def add(client: redis.Redis, *indexes: int) -> list[str]:
    return [client.xadd(STREAM, alert_fields(make_alert(i))) for i in indexes]


def test_backfill_then_read_from_own_position(redis_client: redis.Redis) -> None:
    add(redis_client, 0, 1, 2)
    reader = AlertStreamReader(redis_client, STREAM)
    assert [e.alert.transaction_id for e in reader.backfill(2)] == ["txn_00001", "txn_00002"]
    assert reader.read(block_ms=None) == []
    add(redis_client, 3)
    assert [e.alert.transaction_id for e in reader.read(block_ms=100)] == ["txn_00003"]


def test_two_readers_each_see_every_alert(redis_client: redis.Redis) -> None:
    first = AlertStreamReader(redis_client, STREAM)
    second = AlertStreamReader(redis_client, STREAM)
    first.backfill(0)
    second.backfill(0)
    add(redis_client, 0, 1)
    assert [e.alert.transaction_id for e in first.read(block_ms=100)] == ["txn_00000", "txn_00001"]
    assert [e.alert.transaction_id for e in second.read(block_ms=100)] == [
        "txn_00000",
        "txn_00001",
    ]
    assert redis_client.xlen(STREAM) == 2


def test_empty_stream_backfill_does_not_miss_the_first_alert(redis_client: redis.Redis) -> None:
    reader = AlertStreamReader(redis_client, STREAM)
    assert reader.backfill(10) == []
    add(redis_client, 5)
    assert [e.alert.transaction_id for e in reader.read(block_ms=100)] == ["txn_00005"]


def test_catch_up_gives_the_newest_after_the_position(redis_client: redis.Redis) -> None:
    ids = add(redis_client, 0, 1, 2, 3, 4)
    reader = AlertStreamReader(redis_client, STREAM, last_id=ids[0])
    assert [e.alert.transaction_id for e in reader.catch_up(2)] == ["txn_00003", "txn_00004"]
    assert reader.last_id == ids[4]


def test_malformed_entries_are_skipped_and_counted(redis_client: redis.Redis) -> None:
    reader = AlertStreamReader(redis_client, STREAM)
    reader.backfill(0)
    redis_client.xadd(STREAM, {"alert": '{"transaction_id": "t"}'})
    add(redis_client, 1)
    entries = reader.read(block_ms=100)
    assert [e.alert.transaction_id for e in entries] == ["txn_00001"]
    assert reader.skipped == 1
    assert reader.last_error is not None and "user_id" in reader.last_error


def test_label_mirror_and_detection_quality_of_shown_alerts(redis_client: redis.Redis) -> None:
    add(redis_client, 0, 1, 2)
    store = LabelStore(redis_client, "fraud:labels")
    at = 1_752_573_600_000
    store.record(
        [
            Label("txn_00000", "fraud", "analyst", at),
            Label("txn_00001", "legit", "analyst", at),
            Label("txn_missed", "fraud", "simulator", at),
        ]
    )
    assert store.get_many(["txn_00000", "txn_00002"]) == {"txn_00000": "confirmed_fraud"}
    shown = [e.alert.transaction_id for e in AlertStreamReader(redis_client, STREAM).backfill(10)]
    quality, labels = QualityTracker(store).refresh(shown)
    assert labels == {"txn_00000": "confirmed_fraud", "txn_00001": "false_positive"}
    assert (quality.true_positives, quality.false_positives) == (1, 1)
    assert quality.precision == 0.5 and quality.recall is None  # misses need every label
