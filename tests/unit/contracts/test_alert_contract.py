"""Stream `fraud:alerts`: the job's alert, through the writer's Lua call, to every reader."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flink_job.alert_sink import ADD_ONCE, AlertTarget, RedisAlertWriter
from flink_job.records import alert_record, feature_map
from fraudctl.alerts import Alert as FacadeAlert
from fraudctl.alerts import Reason as FacadeReason
from models import reasons as reason_rules
from models.contracts.alert import (
    ALERT_FIELD,
    Alert,
    AlertParseError,
    alert_fields,
    parse_alert_fields,
)
from models.contracts.reason import Reason
from tests.unit.contracts.test_decision_contract import FLAGGED, TXN, VECTOR

TARGET = AlertTarget("127.0.0.1", 1, "fraud:alerts", 1000, 3600)


class _RecordingScript:
    def __init__(self) -> None:
        self.args: list[Any] = []

    def __call__(self, keys: list[str], args: list[Any]) -> bytes:
        self.args = args
        return b"1-0"


def _written_entry() -> dict[bytes, bytes]:
    """What Redis stores for one flagged transaction: the script's XADD field and value."""
    script = _RecordingScript()
    writer = RedisAlertWriter(TARGET, clock=lambda: 1_752_573_660_250)
    writer.script = script  # type: ignore[assignment]
    assert writer.write(alert_record(TXN, FLAGGED, VECTOR, 1_752_573_660_200)) == "1-0"
    xadd = re.search(r"'XADD', KEYS\[2\], .*'\*', '(\w+)', ARGV\[(\d)\]", ADD_ONCE)
    assert xadd is not None, "the script must XADD one named field"
    field, argv = xadd.group(1), int(xadd.group(2))
    return {field.encode(): str(script.args[argv - 1]).encode()}


def test_the_lua_script_writes_the_field_readers_read() -> None:
    entry = _written_entry()
    assert list(entry) == [ALERT_FIELD.encode()]


def test_job_alert_reaches_the_reader_field_for_field() -> None:
    alert = parse_alert_fields(_written_entry())
    assert alert == Alert(
        alert_id=alert.alert_id,
        transaction_id="txn_fraud_002",
        user_id="user-test-123",
        card_last4="4242",
        amount=5000.0,
        currency="USD",
        merchant_id="merchant_b",
        location="Online",
        timestamp="2025-07-15T10:01:00Z",
        score=0.712346,
        threshold=0.55,
        reasons=(Reason("AMOUNT_SPIKE", "100x average"),),
        features=feature_map(VECTOR),
        model_version="m-1",
        received_at=1_752_573_660_123,
        scored_at=1_752_573_660_200,
        detected_at=1_752_573_660_250,
    )
    assert alert.alert_id.startswith("alert_") and alert.latency_ms == 127


def test_writer_and_reader_share_every_field() -> None:
    written = set(alert_record(TXN, FLAGGED, VECTOR, 1)) | {"detected_at"}
    assert written == set(Alert.model_fields)
    assert "card_fingerprint" not in written  # the stream is shown to people


def test_test_producers_write_the_same_entry_shape() -> None:
    alert = parse_alert_fields(_written_entry())
    assert parse_alert_fields(alert_fields(alert)) == alert
    assert parse_alert_fields(alert_fields(alert.model_dump())) == alert


def test_a_bad_entry_says_what_is_wrong() -> None:
    with pytest.raises(AlertParseError, match=f"no '{ALERT_FIELD}' field"):
        parse_alert_fields({b"other": b"{}"})
    with pytest.raises(AlertParseError, match="score"):
        parse_alert_fields({ALERT_FIELD: '{"transaction_id": "t", "user_id": "u", "amount": 1}'})


def test_there_is_one_reason_type() -> None:
    assert reason_rules.Reason is Reason is FacadeReason
    assert FacadeAlert is Alert
    assert str(Reason("VELOCITY", "12 transactions in 60 s")) == "VELOCITY: 12 transactions in 60 s"
    assert str(Reason("VELOCITY")) == "VELOCITY"
