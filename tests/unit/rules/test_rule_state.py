"""The job's rule mirror: tagged records into broadcast state, restore, merge of hits."""

from __future__ import annotations

from typing import Any

import pytest

from flink_job.rule_state import (
    RULE_TAG,
    RuleMirror,
    is_rule_record,
    parse_rule_message,
    rule_source_ddl,
    with_hits,
)
from foundation.settings import settings_with
from models.contracts.rule import InvalidRule, Rule, RuleRemoval
from models.detector import Decision
from models.rules_engine import RuleSet
from tests.unit.rules.test_rules_engine import txn


class FakeState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)

    def items(self) -> Any:
        return list(self.data.items())


BIG = Rule.from_record(
    {
        "id": "big",
        "filter": [{"field": "amount", "op": "ge", "value": 100}],
        "action": {"type": "alert", "severity": "high"},
    }
)


def tagged(record: Rule | RuleRemoval) -> str:
    return RULE_TAG + record.to_json().decode()


def test_rules_are_applied_kept_in_state_and_restored() -> None:
    state, mirror = FakeState(), RuleMirror()
    mirror.apply(tagged(BIG), state)
    assert mirror.ruleset is not None and len(mirror.ruleset) == 1
    restored = RuleMirror()
    assert len(restored.restore(state)) == 1
    disabled = Rule.from_record({**BIG.to_record(), "enabled": False, "version": 2})
    mirror.apply(tagged(disabled), state)
    assert len(mirror.ruleset) == 0 and "big" in state.data
    mirror.apply(tagged(RuleRemoval("big", 3)), state)
    assert state.data == {} and mirror.changes == 3


def test_messages_from_the_topic() -> None:
    assert parse_rule_message("big", BIG.to_json().decode()) == BIG
    assert parse_rule_message("big", None) == RuleRemoval("big", 0)  # a tombstone
    assert parse_rule_message(None, None) is None
    with pytest.raises(InvalidRule, match="key"):
        parse_rule_message("other", BIG.to_json().decode())
    with pytest.raises(InvalidRule) as caught:
        parse_rule_message("x", '{"id": "x", "action": {"type": "alert", "severity": "?"}}')
    assert "action.severity" in str(caught.value)
    assert is_rule_record(tagged(BIG)) and not is_rule_record('{"transaction_id": "t"}')


def test_an_alert_hit_flags_and_a_tag_only_adds_a_reason() -> None:
    calm = Decision(0.1, 0.5, False, (), "v1", 0.1)
    record = txn(1, 0, amount=500)
    hits = RuleSet([BIG]).evaluate(record, record.event_time_ms)
    flagged = with_hits(calm, hits)
    assert flagged.flagged and [r.code for r in flagged.reasons] == ["RULE:big"]
    tag = Rule.from_record({**BIG.to_record(), "action": {"type": "tag"}})
    tagged_only = with_hits(calm, RuleSet([tag]).evaluate(record, record.event_time_ms))
    assert not tagged_only.flagged and tagged_only.reasons[0].code == "RULE:big"


def test_the_source_ddl_reads_raw_keys_and_values_from_the_start() -> None:
    ddl = rule_source_ddl(settings_with({"kafka.port": 19092}))
    assert "'topic' = 'fraud-rules'" in ddl and "'value.format' = 'raw'" in ddl
    assert "'scan.startup.mode' = 'earliest-offset'" in ddl and "19092" in ddl


def test_the_console_counts_alerts_per_rule_and_escapes_ids() -> None:
    from rich.console import Console

    from fraudctl.console.rules_screen import rule_hit_counts, rules_table
    from models.contracts.alert import Alert
    from models.contracts.reason import Reason

    def entry(index: int, *codes: str) -> Any:
        from foundation.alert_stream import StreamEntry

        alert = Alert(
            transaction_id=f"t{index}",
            user_id="u",
            amount=1.0,
            score=0.9,
            reasons=tuple(Reason(code, "[bold]x[/]") for code in codes),
        )
        return StreamEntry(f"{index}-0", alert)

    entries = [entry(1, "RULE:big", "RULE:big"), entry(2, "RULE:big", "AMOUNT_SPIKE"), entry(3)]
    counts = rule_hit_counts(entries)
    assert counts == {"big": 2}
    console = Console(record=True, width=120)
    console.print(rules_table(counts, {"big": BIG}))
    text = console.export_text()
    assert "big" in text and "2" in text and "alert high" in text
