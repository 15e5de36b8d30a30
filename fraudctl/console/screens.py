"""Modal screens: the key help and the filter prompt."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from fraudctl.console.book import AlertFilter, FilterError

KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ / j k", "move through alerts (the detail pane follows)"),
    ("enter", "enlarge or shrink the detail pane"),
    ("/", "filter: user:ID, reason:CODE or any text"),
    ("u", "show only the selected alert's user"),
    ("r", "show only the selected alert's top reason"),
    ("R", "operator rules and how many alerts each raised"),
    ("escape", "clear the filter"),
    ("space", "pause / resume the live table (nothing is lost)"),
    ("y", "copy the transaction id to the clipboard"),
    ("f", "label the selected alert: confirmed fraud"),
    ("n", "label the selected alert: false positive"),
    ("?", "this help"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    """The keys of the console."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="help-box"):
            yield Static(Text("fraudctl console — keys", style="bold"))
            yield Static(table)
            yield Static(
                Text("Labels are posted to the gateway (POST /labels). Esc closes.", style="dim")
            )

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(result)


class FilterScreen(ModalScreen[AlertFilter | None]):
    """Asks for a filter; returns it, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: AlertFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-box"):
            yield Static(Text("Filter alerts (user:ID  reason:CODE  text) — empty clears"))
            yield Input(value=self.current.describe(), id="filter-input")
            yield Static(id="filter-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(AlertFilter.parse(event.value))
        except FilterError as exc:
            self.query_one("#filter-error", Static).update(Text(str(exc), style="red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
