"""The rules screen: each operator rule and how often it fired in the alerts on screen.

Hit counts come from the alerts the console already holds (a rule's reason code is
`RULE:<id>`); the rule definitions are read from the rules topic in a worker thread, best
effort, so the screen opens at once even when Kafka is slow. Everything shown is escaped:
ids, descriptions and messages are operator text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from foundation.alert_stream import StreamEntry
from foundation.settings import KafkaSettings
from models.contracts.rule import Rule, rule_id_of
from models.rules_engine import describe


def rule_hit_counts(entries: Iterable[StreamEntry]) -> Counter[str]:
    """Alerts per rule id (an alert naming a rule twice counts once)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        ids = {rule_id_of(reason.code) for reason in entry.alert.reasons}
        counts.update(rule_id for rule_id in ids if rule_id)
    return counts


def rules_table(counts: Counter[str], rules: dict[str, Rule] | None) -> Table:
    """One row per rule (stored or seen in alerts), most hits first."""
    table = Table(expand=True)
    for name in ("rule", "alerts", "on", "action", "what"):
        table.add_column(name, no_wrap=name != "what")
    ids = set(counts) | set(rules or {})
    for rule_id in sorted(ids, key=lambda rid: (-counts[rid], rid)):
        rule = (rules or {}).get(rule_id)
        if rule is None:
            state, action, what = "?", "", "not stored any more" if rules is not None else ""
        else:
            state = "yes" if rule.enabled else "no"
            action = rule.action.type + (f" {rule.action.severity}" if rule.action.severity else "")
            what = describe(rule).rsplit(" -> ", 1)[0]
        table.add_row(Text(rule_id), str(counts[rule_id]), state, action, Text(what))
    return table


class RulesScreen(ModalScreen[None]):
    """Rules and their hit counts; Esc closes."""

    DEFAULT_CSS = """
    RulesScreen { align: center middle; }
    RulesScreen #rules-box {
        width: 100; height: auto; max-height: 30;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,R", "dismiss", "Close")]

    def __init__(self, entries: list[StreamEntry], kafka: KafkaSettings | None) -> None:
        super().__init__()
        self.counts = rule_hit_counts(entries)
        self.kafka = kafka

    def compose(self) -> ComposeResult:
        with Vertical(id="rules-box"):
            yield Static(Text("Operator rules — alerts on screen per rule", style="bold"))
            yield Static(rules_table(self.counts, None), id="rules-table")
            yield Static(Text("reading the rules topic…", style="dim"), id="rules-note")

    def on_mount(self) -> None:
        if self.kafka is not None:
            self.load_rules(self.kafka)

    @work(thread=True, exclusive=True)
    def load_rules(self, kafka: KafkaSettings) -> None:
        from fraudctl.rules.store import RuleStore, RuleStoreError

        try:
            rules: dict[str, Rule] | None = RuleStore(kafka, timeout_s=3.0).read().rules
            note = "fraudctl rules list|add|disable to change them. Esc closes."
        except RuleStoreError as error:
            rules, note = None, f"rules topic not read: {error}"
        self.app.call_from_thread(self._show, rules, note)

    def _show(self, rules: dict[str, Rule] | None, note: str) -> None:
        self.query_one("#rules-table", Static).update(rules_table(self.counts, rules))
        self.query_one("#rules-note", Static).update(Text(note, style="dim"))

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)
