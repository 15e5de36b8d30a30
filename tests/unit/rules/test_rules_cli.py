"""`fraudctl rules`: files and inline rules validated before anything is stored, the topic's
records folded into the current rules, dry runs on files, rule hits in the decision log."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fraudctl.cli import app
from fraudctl.rules.dryrun import dry_run_file
from fraudctl.rules.files import RuleFileError, decode_rules, read_rules, read_transactions
from fraudctl.rules.store import StoredRules, UnknownRule
from models.contracts.decision import parse_decision
from models.contracts.rule import Rule, RuleRemoval
from models.rules_engine import RuleSet, RuleWindows

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "rules"
runner = CliRunner()


def test_the_shipped_examples_are_valid() -> None:
    ids = {rule.id for path in sorted(EXAMPLES.iterdir()) for rule in read_rules(path)}
    assert ids == {"high-amount", "card-velocity", "merchant-blocklist"}


def test_a_malformed_inline_rule_is_refused_naming_the_field() -> None:
    bad = orjson.dumps({"id": "x", "filter": [{"field": "amount", "op": "gt", "value": "lots"}]})
    result = runner.invoke(app, ["rules", "add", "--inline", bad.decode()])
    assert result.exit_code == 2
    assert "filter[0].value" in result.output and "action" in result.output
    assert "nothing stored" in result.output


def test_an_unknown_feature_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(
        "id: f\nfilter: [{field: features.nope, op: gt, value: 1}]\naction: {type: tag}\n"
    )
    with pytest.raises(RuleFileError, match=r"filter\[0\]\.field.*amount_zscore"):
        read_rules(path)


def test_a_file_of_several_rules_reports_each_by_position_and_duplicates() -> None:
    text = orjson.dumps(
        [
            {"id": "a", "filter": [{"field": "amount", "op": "gt", "value": 1}], "action": "tag"},
            {"id": "a", "filter": [{"field": "amount", "op": "gt", "value": 1}], "action": "tag"},
            {"id": "b", "action": "tag", "filter": [{"field": "hour", "op": "eq", "value": 99}]},
        ]
    )
    with pytest.raises(RuleFileError) as caught:
        decode_rules(text, "rules.json")
    message = str(caught.value)
    assert "rules.json rule #3 (b): filter[0].value" in message
    assert "'a' appears 2 times" in message
    with pytest.raises(RuleFileError, match="not valid YAML"):
        decode_rules("id: [", "r.yaml", yaml_text=True)


def test_the_stored_rules_are_the_last_record_per_id() -> None:
    first = Rule.from_record(
        {"id": "a", "filter": [{"field": "amount", "op": "gt", "value": 1}], "action": "tag"}
    )
    stored = StoredRules()
    stored.apply("a", first.to_json(), 0)
    stored.apply("a", Rule.from_record({**first.to_record(), "version": 2}).to_json(), 1)
    stored.apply("bad", b"{oops", 2)
    assert stored.get("a").version == 2 and stored.next_version("a") == 3
    assert stored.bad and stored.bad[0][0] == 2
    stored.apply("a", RuleRemoval("a", 3).to_json(), 3)
    stored.apply("a", None, 4)
    with pytest.raises(UnknownRule, match="rules list"):
        stored.get("a")
    assert stored.next_version("a") == 4  # a re-added rule continues the versions


def test_a_dry_run_on_a_csv_says_what_would_have_been_flagged(tmp_path: Path) -> None:
    path = tmp_path / "txns.csv"
    lines = ["transaction_id,user_id,card_number,amount,merchant_id,timestamp"]
    for index in range(6):
        lines.append(
            f"t{index},u1,4242424242424242,{10 + index},m{index},2025-07-15T10:0{index}:00Z"
        )
    lines.append("t9,u1,1234,10,m1,2025-07-15T10:09:00Z")  # a bad card number
    path.write_text("\n".join(lines) + "\n")
    data = read_transactions(path)
    assert len(data.transactions) == 6 and sum(data.bad_rows.values()) == 1
    assert "4242" not in str(data.transactions[0].card_fingerprint)
    report = dry_run_file(read_rules(EXAMPLES / "card-velocity.yaml"), data)
    assert report.hits == 1 and report.shown[0].transaction_id == "t2"
    assert report.to_dict()["per_rule"] == {"card-velocity": 1}


def test_decisions_carry_rule_hits_and_old_ones_read_as_none(tmp_path: Path) -> None:
    from models.contracts.decision import decision_json

    rule = read_rules(EXAMPLES / "high-amount.yaml")[0]
    path = tmp_path / "one.jsonl"
    row = {
        "user_id": "u1",
        "amount": 9000,
        "merchant_id": "m1",
        "timestamp": "2025-07-15T10:00:00Z",
    }
    path.write_text(orjson.dumps(row).decode() + "\n")
    data_txn = read_transactions(path).transactions[0]
    [hit] = RuleSet([rule]).evaluate(data_txn, data_txn.event_time_ms, {}, RuleWindows())
    text = decision_json(
        data_txn,
        score=0.1,
        threshold=0.5,
        flagged=True,
        reasons=[hit.reason()],
        features={},
        model_version="v1",
        scored_at=1,
        rule_hits=[hit.to_dict()],
    )
    record = parse_decision(text)
    assert record.rule_hits[0]["rule_id"] == "high-amount"
    assert record.reasons[0].code == "RULE:high-amount"
    old = orjson.loads(text)
    del old["rule_hits"]
    assert parse_decision(old).rule_hits == ()
