"""Evaluate operator rules (`models.contracts.rule`) on one transaction: pure, no I/O.

`RuleSet(rules)` compiles the enabled rules to closures once, when the rules change; per
transaction `evaluate` only runs those closures. A windowed rule keeps, per user, a small
sorted list of the (event ms, value) of the transactions that passed its filter in
`RuleWindows` (the job keeps it in keyed state; `fraudctl rules test` keeps one per user).

Breach, precisely: the aggregate of a window rule is a function of event time T over the
transactions of its group with T - window < event time <= T. It only rises when a
transaction is added and only falls as time passes. A transaction hits the rule when the
aggregate as of its event time was under the limit without it and reaches the limit with
it. So a rule fires once per breach (the 3rd payment, not the 4th in the same window) and
re-arms by itself once the window has slid far enough for the aggregate to fall under
again. Transactions are evaluated in the order the caller gives them (the job: each user's
event-time order); one arriving after a later one of its group was evaluated is counted
in its own window as of its event time.

Bounded: events at or before (newest - window) are dropped, at most `MAX_WINDOW_EVENTS` per
rule and group, `MAX_GROUPS` cards per user and rule, and windows of rules that are no
longer active are forgotten on the next evaluation.
"""

from __future__ import annotations

import operator
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from models.contracts.reason import Reason
from models.contracts.rule import MAX_WINDOW_EVENTS, Condition, Rule, format_duration, reason_code

MAX_GROUPS = 64
HOUR_MS = 3_600_000

Value = float | str
Features = Mapping[str, float]
Event = tuple[int, Value]


class Payment(Protocol):
    """What a rule reads of a transaction (`models.contracts.transaction.Transaction`)."""

    @property
    def user_id(self) -> str: ...
    @property
    def card_fingerprint(self) -> str: ...
    @property
    def amount(self) -> float: ...
    @property
    def currency(self) -> str: ...
    @property
    def merchant_id(self) -> str: ...
    @property
    def location(self) -> str: ...


Getter = Callable[[Payment, int, Features], Any]


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired on a transaction, with the values that crossed its limit."""

    rule_id: str
    version: int
    action: str
    severity: str | None
    values: tuple[tuple[str, Value], ...]
    message: str

    @property
    def alerts(self) -> bool:
        return self.action == "alert"

    def reason(self) -> Reason:
        return Reason(reason_code(self.rule_id), self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "version": self.version,
            "action": self.action,
            "severity": self.severity,
            "values": dict(self.values),
        }


def _getter(condition: Condition) -> Getter:
    feature = condition.feature
    if feature is not None:
        return lambda _txn, _event_ms, features: features.get(feature)
    if condition.field == "hour":
        return lambda _txn, event_ms, _features: (event_ms // HOUR_MS) % 24
    name = condition.field

    def attribute(txn: Payment, _event_ms: int, _features: Features) -> Any:
        return getattr(txn, name)

    return attribute


def _in(value: Any, allowed: frozenset[Value]) -> bool:
    return value in allowed


def _not_in(value: Any, allowed: frozenset[Value]) -> bool:
    return value not in allowed


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "in": _in,
    "not_in": _not_in,
}
_SYMBOL = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _fmt(value: Value) -> str:
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.2f}"
    return value


def _event_key(event: Event) -> int:
    return event[0]


class CompiledRule:
    """One enabled rule as closures: its filter test and, if windowed, its aggregate."""

    __slots__ = (
        "aggregate_of",
        "checks",
        "function",
        "group_by",
        "limit",
        "limit_inclusive",
        "rule",
        "sampler",
        "tag",
        "window_ms",
    )

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.tag = f"{rule.id}@{rule.version}"
        self.checks = tuple(
            (
                condition.field,
                _getter(condition),
                _OPS[condition.op],
                frozenset(condition.value)
                if isinstance(condition.value, tuple)
                else condition.value,
            )
            for condition in rule.filter
        )
        aggregate, limit = rule.aggregate, rule.limit
        self.function = aggregate.function if aggregate else ""
        self.group_by = aggregate.group_by if aggregate else ""
        self.window_ms = aggregate.window_ms if aggregate else 0
        self.limit = limit.value if limit else 0.0
        self.limit_inclusive = limit is None or limit.op == ">="
        self.aggregate_of = _AGGREGATES.get(self.function, _count)
        self.sampler = _SAMPLERS.get(self.function, _SAMPLERS["count"])

    def matches(self, txn: Payment, event_ms: int, features: Features) -> bool:
        """Whether every condition holds (the per-record path: no allocation)."""
        for _name, get, test, expected in self.checks:
            value = get(txn, event_ms, features)
            if value is None or not test(value, expected):
                return False
        return True

    def tested_values(
        self, txn: Payment, event_ms: int, features: Features
    ) -> list[tuple[str, Value]]:
        """The values the filter looked at, once per field (for a hit's reason)."""
        values: dict[str, Value] = {}
        for name, get, _test, _expected in self.checks:
            values.setdefault(name, get(txn, event_ms, features))
        return list(values.items())

    def crossed(self, aggregate: float) -> bool:
        return aggregate >= self.limit if self.limit_inclusive else aggregate > self.limit

    def sample(self, txn: Payment) -> Value:
        """What the window keeps of a transaction for this rule's aggregate."""
        return self.sampler(txn)


def _count(events: list[Event], _added: Value) -> tuple[float, float]:
    return float(len(events)), float(len(events) + 1)


def _sum(events: list[Event], added: Value) -> tuple[float, float]:
    before = 0.0
    for _, value in events:
        before += value  # type: ignore[operator]  # amounts
    return before, before + added  # type: ignore[operator]


def _max(events: list[Event], added: Value) -> tuple[float, float]:
    high = 0.0
    for _, value in events:
        if value > high:  # type: ignore[operator]  # amounts
            high = value  # type: ignore[assignment]
    return high, max(high, float(added))


def _distinct(events: list[Event], added: Value) -> tuple[float, float]:
    seen = {value for _, value in events}
    return float(len(seen)), float(len(seen) + (added not in seen))


_AGGREGATES: dict[str, Callable[[list[Event], Value], tuple[float, float]]] = {
    "count": _count,
    "sum_amount": _sum,
    "max_amount": _max,
    "distinct_merchants": _distinct,
    "distinct_locations": _distinct,
}
_SAMPLERS: dict[str, Callable[[Payment], Value]] = {
    "count": lambda _txn: 1.0,
    "sum_amount": lambda txn: float(txn.amount),
    "max_amount": lambda txn: float(txn.amount),
    "distinct_merchants": lambda txn: txn.merchant_id,
    "distinct_locations": lambda txn: txn.location,
}


class RuleWindows:
    """One user's window events per active windowed rule: tag -> group -> sorted events.

    `group` is "" for rules grouped by user and the card fingerprint for rules by card.
    """

    __slots__ = ("changed", "data")

    def __init__(self, data: dict[str, dict[str, list[Event]]] | None = None) -> None:
        self.data = data if data is not None else {}
        self.changed = False  # set by every change, so a caller writes state only then

    def __len__(self) -> int:
        return sum(len(events) for groups in self.data.values() for events in groups.values())

    def to_state(self) -> dict[str, dict[str, list[Event]]]:
        """Plain data for keyed state (the lists are shared, not copied: write it at once)."""
        return self.data

    @classmethod
    def from_state(cls, data: Any) -> RuleWindows:
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(
                {
                    str(tag): {
                        str(group): [(int(at), value) for at, value in events]
                        for group, events in groups.items()
                    }
                    for tag, groups in data.items()
                }
            )
        except (TypeError, ValueError, AttributeError):
            return cls()  # written by an incompatible version: windows start afresh

    def add(
        self, rule: CompiledRule, group: str, event_ms: int, value: Value
    ) -> tuple[float, float]:
        """Add one event; the aggregate as of `event_ms` before and after it."""
        self.changed = True
        groups = self.data.get(rule.tag)
        if groups is None:
            groups = self.data[rule.tag] = {}
        events = groups.get(group)
        if events is None:
            if len(groups) >= MAX_GROUPS:
                stalest = min(groups, key=lambda name: groups[name][-1][0] if groups[name] else 0)
                del groups[stalest]
            groups[group] = [(event_ms, value)]
            return rule.aggregate_of([], value)
        horizon = event_ms - rule.window_ms
        if event_ms >= events[-1][0]:
            # In order (the usual case): after expiry everything kept is in the window.
            if events[0][0] <= horizon:
                del events[: bisect_right(events, horizon, key=_event_key)]
            result = rule.aggregate_of(events, value)
            events.append((event_ms, value))
        else:
            # Late for its group: the window as of its own event time.
            newest = events[-1][0]
            expired = bisect_right(events, newest - rule.window_ms, key=_event_key)
            if expired:
                del events[:expired]
            low = bisect_right(events, horizon, key=_event_key)
            high = bisect_right(events, event_ms, key=_event_key)
            result = rule.aggregate_of(events[low:high], value)
            insort(events, (event_ms, value), key=_event_key)
        if len(events) > MAX_WINDOW_EVENTS:
            del events[0]
        return result

    def forget_except(self, tags: frozenset[str]) -> None:
        """Drop the windows of rules that are no longer active (removed, changed, disabled)."""
        for tag in [tag for tag in self.data if tag not in tags]:
            del self.data[tag]
            self.changed = True


class RuleSet:
    """The enabled rules, compiled; build a new one whenever the rules change."""

    __slots__ = ("compiled", "tags", "uses_features", "windowed")

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.compiled = tuple(
            CompiledRule(rule) for rule in sorted(rules, key=lambda r: r.id) if rule.enabled
        )
        self.tags = frozenset(rule.tag for rule in self.compiled if rule.window_ms)
        self.windowed = bool(self.tags)
        self.uses_features = any(
            condition.feature is not None
            for rule in self.compiled
            for condition in rule.rule.filter
        )

    def __len__(self) -> int:
        return len(self.compiled)

    def __bool__(self) -> bool:
        return bool(self.compiled)

    def evaluate(
        self,
        txn: Payment,
        event_ms: int,
        features: Features | None = None,
        windows: RuleWindows | None = None,
    ) -> list[RuleHit]:
        """Every rule this transaction hits, in rule-id order; window rules need `windows`."""
        feats: Features = features if features is not None else {}
        if windows is not None and windows.data and not self.tags.issuperset(windows.data):
            windows.forget_except(self.tags)
        hits: list[RuleHit] = []
        for rule in self.compiled:
            if not rule.matches(txn, event_ms, feats):
                continue
            if not rule.window_ms:
                tested = rule.tested_values(txn, event_ms, feats)
                hits.append(_hit(rule, tested, _filter_message(rule, tested)))
                continue
            if windows is None:
                raise ValueError(f"rule {rule.rule.id} is windowed: pass the user's windows")
            group = "" if rule.group_by == "user" else txn.card_fingerprint
            before, after = windows.add(rule, group, event_ms, rule.sample(txn))
            if rule.crossed(after) and not rule.crossed(before):
                hits.append(_window_hit(rule, after))
        return hits


def _hit(rule: CompiledRule, values: list[tuple[str, Value]], message: str) -> RuleHit:
    definition = rule.rule
    return RuleHit(
        definition.id,
        definition.version,
        definition.action.type,
        definition.action.severity,
        tuple(values),
        message,
    )


def _filter_message(rule: CompiledRule, values: list[tuple[str, Value]]) -> str:
    shown = ", ".join(f"{name}={_fmt(value)}" for name, value in values)
    return f"{_label(rule)}: {shown}"


def _window_hit(rule: CompiledRule, aggregate: float) -> RuleHit:
    symbol = ">=" if rule.limit_inclusive else ">"
    window = format_duration(rule.window_ms)
    values: list[tuple[str, Value]] = [
        (rule.function, round(aggregate, 6)),
        ("limit", rule.limit),
        ("window", window),
        ("group_by", rule.group_by),
    ]
    message = (
        f"{_label(rule)}: {rule.function} {_fmt(round(aggregate, 2))} {symbol} "
        f"{_fmt(rule.limit)} per {rule.group_by} in {window}"
    )
    return _hit(rule, values, message)


def _label(rule: CompiledRule) -> str:
    action = rule.rule.action
    return f"{action.severity} alert" if action.type == "alert" else "tag"


def unknown_features(rule: Rule, known: Iterable[str]) -> list[str]:
    """Feature names the rule reads that the job does not compute (a CLI check)."""
    names = set(known)
    return [
        condition.feature
        for condition in rule.filter
        if condition.feature is not None and condition.feature not in names
    ]


def describe(rule: Rule) -> str:
    """One line for people: 'amount >= 1000 -> alert high'."""
    parts = []
    for condition in rule.filter:
        value = condition.value
        shown = (
            "[" + ", ".join(_fmt(v) for v in value[:5]) + (", …]" if len(value) > 5 else "]")
            if isinstance(value, tuple)
            else _fmt(value)
        )
        parts.append(f"{condition.field} {_SYMBOL.get(condition.op, condition.op)} {shown}")
    text = " and ".join(parts) or "every transaction"
    if rule.aggregate is not None and rule.limit is not None:
        agg = rule.aggregate
        text += (
            f"; {agg.function} per {agg.group_by} in {format_duration(agg.window_ms)} "
            f"{rule.limit.op} {_fmt(rule.limit.value)}"
        )
    action = rule.action
    return f"{text} -> {action.type}" + (f" {action.severity}" if action.severity else "")
