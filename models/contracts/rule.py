"""Topic `fraud-rules` (compacted, one partition): operator rules, key = rule id.

A rule is data: a filter on the transaction (all conditions must hold), an optional
aggregate over an event-time window per user or card, a limit the aggregate is compared
with, and an action (`alert` with a severity, or `tag`). `fraudctl rules` writes rules
and the scoring job reads them back with `parse_rule_record`; both import this module, so
a rule the CLI accepts is a rule the job runs. Validation is strict (unknown fields
refused) and collects every problem: `InvalidRule.problems` names each field by its path
(`filter[1].op`, `aggregate.window`), `InvalidRule.field` the first.

The value of a removed rule is a removal marker `{"id", "version", "removed": true}`
followed by a null tombstone; a reader treats both as "removed" (the marker exists
because the job's Kafka source cannot see a null value's key).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

RULE_CODE_PREFIX: Final = "RULE:"
MAX_ID_LENGTH: Final = 64
MAX_DESCRIPTION: Final = 500
MAX_CONDITIONS: Final = 32
MAX_SET_VALUES: Final = 10_000
MAX_TEXT_VALUE: Final = 128
MIN_WINDOW_MS: Final = 1_000
MAX_WINDOW_MS: Final = 24 * 3_600_000
# A window keeps at most this many events per rule and group (see models/rules_engine.py),
# so a count limit above it could never be reached.
MAX_WINDOW_EVENTS: Final = 1_000

TEXT_FIELDS: Final = ("currency", "merchant_id", "location", "user_id", "card_fingerprint")
NUMBER_FIELDS: Final = ("amount", "hour")
FEATURE_PREFIX: Final = "features."
OPS: Final = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")
ORDER_OPS: Final = ("lt", "le", "gt", "ge")
SET_OPS: Final = ("in", "not_in")
FUNCTIONS: Final = ("count", "sum_amount", "max_amount", "distinct_merchants", "distinct_locations")
GROUPS: Final = ("user", "card")
LIMIT_OPS: Final = (">=", ">")
ACTIONS: Final = ("alert", "tag")
SEVERITIES: Final = ("low", "medium", "high", "critical")
FIELDS: Final = (
    "id",
    "description",
    "enabled",
    "version",
    "filter",
    "aggregate",
    "limit",
    "action",
    "updated_at",
)
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FEATURE_RE: Final = re.compile(r"[a-z][a-z0-9_]*")
_DURATION_RE: Final = re.compile(r"([0-9]+)\s*(ms|s|m|h|d)")
_UNIT_MS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

Scalar = float | str
Problems = list[tuple[str, str]]


class InvalidRule(ValueError):
    """A rule that cannot be used; `problems` lists (field, message) for every bad field."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.field = problems[0][0]
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))


@dataclass(frozen=True, slots=True)
class Condition:
    """`field op value`; `field` is a transaction field, `hour` or `features.NAME`."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]

    @property
    def feature(self) -> str | None:
        """The feature's name when the condition reads a feature."""
        return self.field[len(FEATURE_PREFIX) :] if self.field.startswith(FEATURE_PREFIX) else None

    def to_record(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


@dataclass(frozen=True, slots=True)
class Aggregate:
    """What is aggregated over the window, for whom."""

    function: str
    group_by: str
    window_ms: int

    def to_record(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "group_by": self.group_by,
            "window": format_duration(self.window_ms),
        }


@dataclass(frozen=True, slots=True)
class Limit:
    op: str
    value: float

    def to_record(self) -> dict[str, Any]:
        return {"op": self.op, "value": self.value}


@dataclass(frozen=True, slots=True)
class Action:
    type: str
    severity: str | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"type": self.type}
        if self.severity is not None:
            record["severity"] = self.severity
        return record


@dataclass(frozen=True, slots=True)
class Rule:
    """One operator rule, as stored on `fraud-rules` (see the module docstring)."""

    id: str
    action: Action
    filter: tuple[Condition, ...] = ()
    aggregate: Aggregate | None = None
    limit: Limit | None = None
    description: str = ""
    enabled: bool = True
    version: int = 1
    updated_at: int | None = None

    @property
    def reason_code(self) -> str:
        return reason_code(self.id)

    @property
    def windowed(self) -> bool:
        return self.aggregate is not None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "description": self.description,
            "enabled": self.enabled,
            "version": self.version,
            "filter": [condition.to_record() for condition in self.filter],
            "action": self.action.to_record(),
        }
        if self.aggregate is not None:
            record["aggregate"] = self.aggregate.to_record()
        if self.limit is not None:
            record["limit"] = self.limit.to_record()
        if self.updated_at is not None:
            record["updated_at"] = self.updated_at
        return record

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())

    @classmethod
    def from_record(cls, record: Any) -> Rule:
        """Validate a decoded rule; `InvalidRule` names every field that is wrong."""
        return _RuleReader(record).read()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Rule:
        parsed = parse_rule_record(raw)
        if isinstance(parsed, RuleRemoval):
            raise InvalidRule([("removed", "this is a removal marker, not a rule")])
        return parsed


@dataclass(frozen=True, slots=True)
class RuleRemoval:
    """The marker `fraudctl rules remove` writes before the tombstone."""

    id: str
    version: int

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "removed": True}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())


def reason_code(rule_id: str) -> str:
    """The reason code a rule's hit carries: `RULE:<id>` (ids contain no ':')."""
    return f"{RULE_CODE_PREFIX}{rule_id}"


def rule_id_of(code: str) -> str | None:
    """The rule id in a reason code, or None when the reason is not a rule's."""
    return code[len(RULE_CODE_PREFIX) :] if code.startswith(RULE_CODE_PREFIX) else None


def parse_rule_record(raw: str | bytes | Mapping[str, Any]) -> Rule | RuleRemoval:
    """A `fraud-rules` value (JSON or decoded) to a Rule or a removal marker."""
    if isinstance(raw, str | bytes):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise InvalidRule([("rule", f"is not valid JSON ({error})")]) from None
    if isinstance(raw, Mapping) and raw.get("removed") is True:
        problems: Problems = []
        extra = sorted(set(raw) - {"id", "version", "removed"})
        if extra:
            problems.append((extra[0], "is not a field of a removal marker"))
        rule_id = _check_id(raw.get("id"), problems)
        version = _check_version(raw.get("version"), problems)
        if problems:
            raise InvalidRule(problems)
        return RuleRemoval(rule_id, version)
    return Rule.from_record(raw)


def parse_duration(value: Any) -> int:
    """`"10m"`, `"90s"`, `"1h"`, `"2d"`, `"500ms"` (or whole seconds as a number) to ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1_000
    if not isinstance(value, str):
        raise ValueError("must be a duration such as '10m', '90s' or '1h'")
    match = _DURATION_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError("must be a duration such as '10m', '90s' or '1h' (units ms s m h d)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def format_duration(ms: int) -> str:
    """The shortest exact spelling: 600000 -> '10m'."""
    for unit in ("d", "h", "m", "s"):
        if ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def _check_id(value: Any, problems: Problems) -> str:
    if not isinstance(value, str) or not value:
        problems.append(("id", "is required: a name such as 'high-amount'"))
        return ""
    if len(value) > MAX_ID_LENGTH or not _ID_RE.fullmatch(value):
        problems.append(
            (
                "id",
                f"must be 1 to {MAX_ID_LENGTH} characters: letters, digits and _ - ., "
                "starting with a letter or digit",
            )
        )
    return value


def _check_version(value: Any, problems: Problems) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        problems.append(("version", "must be a whole number of at least 1"))
        return 1
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class _RuleReader:
    """Reads one rule record, collecting every problem before raising."""

    record: Any
    problems: Problems = field(default_factory=list)

    def bad(self, name: str, message: str) -> None:
        self.problems.append((name, message))

    def read(self) -> Rule:
        record = self.record
        if not isinstance(record, Mapping):
            raise InvalidRule([("rule", f"must be an object, got {type(record).__name__}")])
        for name in sorted(set(record) - set(FIELDS)):
            self.bad(str(name), f"is not a rule field (known: {', '.join(FIELDS)})")
        rule_id = _check_id(record.get("id"), self.problems)
        description = record.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            self.bad("description", f"must be text of at most {MAX_DESCRIPTION} characters")
            description = ""
        enabled = record.get("enabled", True)
        if not isinstance(enabled, bool):
            self.bad("enabled", "must be true or false")
        version = _check_version(record.get("version", 1), self.problems)
        updated_at = record.get("updated_at")
        if updated_at is not None and (
            not isinstance(updated_at, int) or isinstance(updated_at, bool) or updated_at < 0
        ):
            self.bad("updated_at", "must be epoch milliseconds")
        conditions = self.conditions(record.get("filter", []))
        aggregate = self.aggregate(record.get("aggregate"))
        limit = self.limit(record.get("limit"), aggregate)
        action = self.action(record.get("action"))
        if not conditions and aggregate is None and not self.problems:
            self.bad("filter", "is empty and there is no aggregate: the rule would hit everything")
        if self.problems:
            raise InvalidRule(self.problems)
        return Rule(
            id=rule_id,
            action=action,
            filter=conditions,
            aggregate=aggregate,
            limit=limit,
            description=description,
            enabled=bool(enabled),
            version=version,
            updated_at=updated_at,
        )

    def conditions(self, value: Any) -> tuple[Condition, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.bad("filter", "must be a list of conditions {field, op, value} (all must hold)")
            return ()
        if len(value) > MAX_CONDITIONS:
            self.bad("filter", f"has {len(value)} conditions: at most {MAX_CONDITIONS}")
            return ()
        found = (self.condition(f"filter[{index}]", item) for index, item in enumerate(value))
        return tuple(item for item in found if item is not None)

    def condition(self, path: str, item: Any) -> Condition | None:
        if not isinstance(item, Mapping):
            self.bad(path, "must be an object {field, op, value}")
            return None
        before = len(self.problems)
        for name in sorted(set(item) - {"field", "op", "value"}):
            self.bad(f"{path}.{name}", "is not a condition field (use field, op, value)")
        name, op, value = item.get("field"), item.get("op"), item.get("value")
        kind = self.field_kind(f"{path}.field", name)
        if op not in OPS:
            self.bad(f"{path}.op", f"must be one of {', '.join(OPS)}")
        elif kind == "text" and op in ORDER_OPS:
            self.bad(f"{path}.op", f"{op} compares numbers; {name} is text: use eq, ne, in, not_in")
        if kind is None or op not in OPS:
            return None
        checked = self.condition_value(f"{path}.value", kind, op, value)
        if len(self.problems) > before or checked is None:
            return None
        return Condition(str(name), str(op), checked)

    def field_kind(self, path: str, name: Any) -> str | None:
        if name in TEXT_FIELDS:
            return "text"
        if name in NUMBER_FIELDS:
            return str(name)
        if isinstance(name, str) and name.startswith(FEATURE_PREFIX):
            if _FEATURE_RE.fullmatch(name[len(FEATURE_PREFIX) :]):
                return "number"
            self.bad(path, "a feature is named features.NAME (lower case, digits, _)")
            return None
        known = ", ".join((*NUMBER_FIELDS, *TEXT_FIELDS, "features.NAME"))
        self.bad(path, f"must be one of {known}")
        return None

    def condition_value(
        self, path: str, kind: str, op: str, value: Any
    ) -> Scalar | tuple[Scalar, ...] | None:
        if op in SET_OPS:
            if not isinstance(value, list) or not value or len(value) > MAX_SET_VALUES:
                self.bad(path, f"{op} needs a list of 1 to {MAX_SET_VALUES} values")
                return None
            items = [self.scalar(f"{path}[{i}]", kind, v) for i, v in enumerate(value)]
            if any(item is None for item in items):
                return None
            return tuple(sorted({item for item in items if item is not None}, key=str))
        return self.scalar(path, kind, value)

    def scalar(self, path: str, kind: str, value: Any) -> Scalar | None:
        if kind == "text":
            if not isinstance(value, str) or not value or len(value) > MAX_TEXT_VALUE:
                self.bad(path, f"must be text of 1 to {MAX_TEXT_VALUE} characters")
                return None
            return value
        if not _is_number(value):
            self.bad(path, "must be a finite number")
            return None
        if kind == "hour" and (value != int(value) or not 0 <= value <= 23):
            self.bad(path, "an hour of the day (UTC) is a whole number from 0 to 23")
            return None
        return float(value)

    def aggregate(self, value: Any) -> Aggregate | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.bad("aggregate", "must be an object {function, group_by, window}")
            return None
        before = len(self.problems)
        for name in sorted(set(value) - {"function", "group_by", "window"}):
            self.bad(f"aggregate.{name}", "is not an aggregate field (function, group_by, window)")
        function, group = value.get("function"), value.get("group_by", "user")
        if function not in FUNCTIONS:
            self.bad("aggregate.function", f"must be one of {', '.join(FUNCTIONS)}")
        if group == "merchant":
            self.bad(
                "aggregate.group_by",
                "merchant is not supported: the job is keyed by user, so one merchant's "
                "payments are spread over all subtasks; group by user or card and filter on "
                "merchant_id instead",
            )
        elif group not in GROUPS:
            self.bad("aggregate.group_by", f"must be one of {', '.join(GROUPS)}")
        window_ms = 0
        try:
            window_ms = parse_duration(value.get("window"))
        except ValueError as error:
            self.bad("aggregate.window", str(error))
        else:
            if not MIN_WINDOW_MS <= window_ms <= MAX_WINDOW_MS:
                self.bad("aggregate.window", "must be from 1s to 24h")
        if len(self.problems) > before:
            return None
        return Aggregate(str(function), str(group), window_ms)

    def limit(self, value: Any, aggregate: Aggregate | None) -> Limit | None:
        if value is None:
            if aggregate is not None or "aggregate" in self.record:
                self.bad("limit", "is required with an aggregate: {op: '>=' or '>', value}")
            return None
        if aggregate is None and "aggregate" not in self.record:
            self.bad("limit", "needs an aggregate to compare (a filter alone is the test)")
            return None
        if not isinstance(value, Mapping):
            self.bad("limit", "must be an object {op: '>=' or '>', value: number}")
            return None
        for name in sorted(set(value) - {"op", "value"}):
            self.bad(f"limit.{name}", "is not a limit field (op, value)")
        op = value.get("op", ">=")
        raw: Any = value.get("value")
        if op not in LIMIT_OPS:
            self.bad("limit.op", "must be '>=' or '>'")
        if not _is_number(raw) or raw <= 0:
            self.bad("limit.value", "must be a number above 0")
            return None
        number = float(raw)
        if (
            aggregate is not None
            and aggregate.function != "sum_amount"
            and aggregate.function != "max_amount"
            and number > MAX_WINDOW_EVENTS
        ):
            self.bad("limit.value", f"a count is at most {MAX_WINDOW_EVENTS} (window cap)")
        return Limit(str(op), number) if op in LIMIT_OPS else None

    def action(self, value: Any) -> Action:
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, Mapping):
            self.bad("action", "is required: {type: alert, severity: high} or {type: tag}")
            return Action("tag")
        for name in sorted(set(value) - {"type", "severity"}):
            self.bad(f"action.{name}", "is not an action field (type, severity)")
        kind, severity = value.get("type"), value.get("severity")
        if kind not in ACTIONS:
            self.bad("action.type", "must be alert (flag and alert) or tag (reason only)")
            return Action("tag")
        if kind == "alert":
            severity = "medium" if severity is None else severity
            if severity not in SEVERITIES:
                self.bad("action.severity", f"must be one of {', '.join(SEVERITIES)}")
                return Action("alert", "medium")
            return Action("alert", str(severity))
        if severity is not None:
            self.bad("action.severity", "only an alert has a severity")
        return Action("tag")
