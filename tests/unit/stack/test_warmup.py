"""`fraudctl up`'s warm-up: what it sends, and when it counts as done."""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from foundation.settings import settings_with
from fraudctl import warmup
from fraudctl.warmup import WarmupResult, warm_up_job, warmup_records
from models.contracts.transaction import Transaction
from tests.fixtures.ports import free_ports


def test_every_record_is_a_valid_transaction_of_a_warmup_user_with_a_unique_id() -> None:
    records = list(warmup_records(300, "abc"))
    transactions = [Transaction.from_record(record) for record in records]
    assert all(t.is_warmup for t in transactions)
    assert len({t.transaction_id for t in transactions}) == 300
    assert len({t.user_id for t in transactions}) > 50  # spread over many users
    assert not {t.transaction_id for t in transactions} & {
        t.transaction_id for t in map(Transaction.from_record, warmup_records(300, "abd"))
    }


class FakeConsumer:
    """The scoring group's committed offsets, per partition (-1001: none yet)."""

    def __init__(self, committed: list[int]) -> None:
        self.offsets = committed

    def committed(self, asked: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(t.topic, t.partition, self.offsets[t.partition]) for t in asked]


def test_caught_up_only_when_every_partition_reached_its_end() -> None:
    ends = [TopicPartition("transactions", 0, 10), TopicPartition("transactions", 1, 20)]
    assert warmup._caught_up(FakeConsumer([10, 20]), ends)  # type: ignore[arg-type]
    assert not warmup._caught_up(FakeConsumer([10, 19]), ends)  # type: ignore[arg-type]
    assert not warmup._caught_up(FakeConsumer([-1001, 20]), ends)  # type: ignore[arg-type]


def test_off_sends_nothing() -> None:
    result = warm_up_job(settings_with({"job.warmup_transactions": 0}))
    assert result == WarmupResult(0, 0.0, True)
    assert "off" in result.describe()


def test_describe_says_when_it_did_not_finish() -> None:
    assert "scored in 9.5 s" in WarmupResult(15_000, 9.5, True).describe()
    late = WarmupResult(15_000, 120.0, False).describe()
    assert "not all scored" in late and "FRAUDCTL_JOB__WARMUP_TIMEOUT_S" in late


def test_a_warmup_that_cannot_be_sent_is_reported_and_never_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(_settings: object, records: object) -> int:
        raise RuntimeError("15000 records were not delivered to transactions")

    monkeypatch.setattr(warmup, "produce_transactions", refuse)
    settings = settings_with({"job.warmup_transactions": 10, "kafka.port": free_ports(1)[0]})
    result = warm_up_job(settings)
    assert not result.complete
    assert "skipped: 15000 records were not delivered" in result.describe()
