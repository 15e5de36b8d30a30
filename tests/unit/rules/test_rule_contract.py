"""The rule contract: strict, every problem named by its field path, round trips."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.contracts.rule import (
    InvalidRule,
    Rule,
    RuleRemoval,
    format_duration,
    parse_duration,
    parse_rule_record,
    reason_code,
    rule_id_of,
)

VELOCITY: dict[str, Any] = {
    "id": "card-velocity",
    "description": "3 merchants in 10 minutes on one card",
    "filter": [{"field": "amount", "op": "ge", "value": 1}],
    "aggregate": {"function": "distinct_merchants", "group_by": "card", "window": "10m"},
    "limit": {"op": ">=", "value": 3},
    "action": {"type": "alert", "severity": "high"},
}


def problems_of(record: Any) -> dict[str, str]:
    with pytest.raises(InvalidRule) as caught:
        Rule.from_record(record)
    return dict(caught.value.problems)


def test_a_valid_rule_round_trips_through_json() -> None:
    rule = Rule.from_record(VELOCITY)
    assert rule.aggregate is not None and rule.aggregate.window_ms == 600_000
    assert rule.limit is not None and rule.limit.value == 3.0
    assert rule.action.severity == "high" and rule.enabled and rule.version == 1
    assert Rule.from_json(rule.to_json()) == rule
    assert rule.to_record()["aggregate"]["window"] == "10m"


def test_set_values_are_deduplicated_and_text_fields_refuse_ordering() -> None:
    rule = Rule.from_record(
        {
            "id": "block",
            "filter": [{"field": "merchant_id", "op": "in", "value": ["m2", "m1", "m2"]}],
            "action": "alert",
        }
    )
    assert rule.filter[0].value == ("m1", "m2")
    assert rule.action.severity == "medium"  # the default severity of an alert
    found = problems_of(
        {"id": "x", "filter": [{"field": "currency", "op": "gt", "value": "USD"}], "action": "tag"}
    )
    assert "filter[0].op" in found and "text" in found["filter[0].op"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "bad id!"}, "id"),
        ({"id": "has:colon"}, "id"),
        ({"enabled": "yes"}, "enabled"),
        ({"version": 0}, "version"),
        ({"colour": "red"}, "colour"),
        ({"filter": [{"field": "amount", "op": "between", "value": 1}]}, "filter[0].op"),
        ({"filter": [{"field": "colour", "op": "eq", "value": 1}]}, "filter[0].field"),
        ({"filter": [{"field": "hour", "op": "eq", "value": 24}]}, "filter[0].value"),
        ({"filter": [{"field": "amount", "op": "in", "value": []}]}, "filter[0].value"),
        ({"filter": [{"field": "features.Bad-Name", "op": "gt", "value": 1}]}, "filter[0].field"),
        ({"filter": [{"field": "amount", "op": "gt", "value": float("nan")}]}, "filter[0].value"),
        ({"aggregate": {**VELOCITY["aggregate"], "group_by": "merchant"}}, "aggregate.group_by"),
        ({"aggregate": {**VELOCITY["aggregate"], "window": "10 years"}}, "aggregate.window"),
        ({"aggregate": {**VELOCITY["aggregate"], "window": "2d"}}, "aggregate.window"),
        ({"aggregate": {**VELOCITY["aggregate"], "function": "avg"}}, "aggregate.function"),
        ({"limit": {"op": "<", "value": 3}}, "limit.op"),
        ({"limit": {"op": ">=", "value": -1}}, "limit.value"),
        ({"limit": {"op": ">=", "value": 5000}}, "limit.value"),
        ({"limit": None}, "limit"),
        ({"action": {"type": "block"}}, "action.type"),
        ({"action": {"type": "alert", "severity": "urgent"}}, "action.severity"),
        ({"action": {"type": "tag", "severity": "high"}}, "action.severity"),
        ({"action": None}, "action"),
    ],
)
def test_each_problem_names_its_field(change: dict[str, Any], field: str) -> None:
    record = {**VELOCITY, **change}
    if change.get("limit", 0) is None:
        del record["limit"]
    if change.get("action", 0) is None:
        del record["action"]
    found = problems_of(record)
    assert field in found, found


def test_merchant_grouping_says_what_to_do_instead() -> None:
    found = problems_of(
        {**VELOCITY, "aggregate": {**VELOCITY["aggregate"], "group_by": "merchant"}}
    )
    assert "keyed by user" in found["aggregate.group_by"]
    assert "merchant_id" in found["aggregate.group_by"]


def test_all_problems_are_collected_and_the_first_is_the_field() -> None:
    with pytest.raises(InvalidRule) as caught:
        Rule.from_record({"id": "", "action": {"type": "nope"}, "filter": "amount > 5"})
    fields = [name for name, _ in caught.value.problems]
    assert fields[0] == caught.value.field == "id"
    assert "filter" in fields and "action.type" in fields


def test_a_limit_without_aggregate_and_a_rule_that_hits_everything_are_refused() -> None:
    assert "limit" in problems_of({"id": "x", "limit": {"value": 1}, "action": "tag"})
    assert "filter" in problems_of({"id": "x", "action": "tag"})


def test_bad_json_and_non_objects_are_named() -> None:
    with pytest.raises(InvalidRule) as caught:
        parse_rule_record(b"{not json")
    assert caught.value.field == "rule"
    assert "rule" in problems_of([1, 2])


def test_removal_markers_parse_and_are_not_rules() -> None:
    marker = RuleRemoval("card-velocity", 4)
    assert parse_rule_record(marker.to_json()) == marker
    with pytest.raises(InvalidRule):
        Rule.from_json(marker.to_json())
    with pytest.raises(InvalidRule) as caught:
        parse_rule_record(orjson.dumps({"id": "x", "removed": True, "version": "2"}))
    assert caught.value.field == "version"


def test_durations_and_reason_codes() -> None:
    assert parse_duration("90s") == 90_000 and parse_duration(" 1h ") == 3_600_000
    assert parse_duration(30) == 30_000 and parse_duration("250ms") == 250
    assert format_duration(600_000) == "10m" and format_duration(90_000) == "90s"
    with pytest.raises(ValueError):
        parse_duration("ten minutes")
    assert rule_id_of(reason_code("high-amount")) == "high-amount"
    assert rule_id_of("AMOUNT_SPIKE") is None
