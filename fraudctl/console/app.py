"""`fraudctl console`: live fraud alerts in the terminal.

All IO runs in thread workers that post typed messages (console/messages.py); handlers on
the app own every widget. The stream worker reads `fraud:alerts` from its own position
(XREAD BLOCK), so the console never takes alerts from other readers, and resumes from the
same position after Redis comes back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.events import Resize
from textual.widgets import DataTable, Footer, Static

from foundation.alert_stream import StreamEntry
from foundation.settings import Settings
from fraudctl.alerts.health import PipelineHealth
from fraudctl.alerts.labels import Verdict
from fraudctl.alerts.quality import DetectionQuality, detection_quality
from fraudctl.console.backend import CONNECTION_ERRORS, ConsoleBackend, RedisBackend
from fraudctl.console.book import NO_FILTER, AlertBook, AlertFilter
from fraudctl.console.messages import (
    AlertsArrived,
    HealthChecked,
    LabelFailed,
    LabelSaved,
    LabelsLoaded,
    StreamConnection,
)
from fraudctl.console.screens import FilterScreen, HelpScreen
from fraudctl.console.widgets import AlertTable, HealthBar, StatsPanel, detail_renderable
from fraudctl.labels_client import LabelPostError
from models.contracts.alert import Alert

log = logging.getLogger(__name__)

WIDE_COLUMNS = 130
LABEL_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, LabelPostError, ValueError)


class FraudConsole(App[None]):
    """The live alert console."""

    CSS_PATH = "console.tcss"
    TITLE = "fraudctl console"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("space", "toggle_pause", "Pause"),
        Binding("f", "label('confirmed_fraud')", "Fraud"),
        Binding("n", "label('false_positive')", "Not fraud"),
        Binding("y", "copy_transaction", "Copy id"),
        Binding("u", "filter_user", "User", show=False),
        Binding("r", "filter_reason", "Reason", show=False),
        Binding("R", "rules", "Rules"),
        Binding("escape", "clear", "Clear filter", show=False),
        Binding("j", "cursor('down')", show=False),
        Binding("k", "cursor('up')", show=False),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        backend: ConsoleBackend | None = None,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        backfill: int = 200,
        capacity: int = 1000,
        block_ms: int = 500,
        health_interval_s: float = 3.0,
        quality_interval_s: float = 10.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.backend: ConsoleBackend = backend or RedisBackend(settings)
        self.clock = clock
        self.tz = tz
        self.backfill_count = backfill
        self.book = AlertBook(capacity)
        self.block_ms = block_ms
        self.health_interval_s = health_interval_s
        self.quality_interval_s = quality_interval_s
        self.alert_filter: AlertFilter = NO_FILTER
        self.labels: dict[str, str] = {}
        self.paused = False
        self.held: list[StreamEntry] = []
        self.health: PipelineHealth | None = None
        self.quality: DetectionQuality | None = None
        self.stream_up: bool | None = None
        self.stream_detail = ""
        self._stop = threading.Event()

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")
        yield StatsPanel(id="stats")
        with Vertical(id="main"):
            yield AlertTable(id="alerts")
            with VerticalScroll(id="detail"):
                yield Static(id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(AlertTable).focus()
        self._refresh_all()
        self.stream_alerts()
        self.watch_health()
        self.set_interval(5.0, self._refresh_stats)
        # Labels arrive long after alerts (the simulator's are delayed; analysts label
        # later): look up those of the alerts held, by id, every so often.
        self.set_interval(self.quality_interval_s, self._reload_labels)

    def on_unmount(self) -> None:
        self._stop.set()

    def on_resize(self, event: Resize) -> None:
        self.query_one("#main").set_class(event.size.width >= WIDE_COLUMNS, "wide")

    # --- workers: IO only, results go out as messages -----------------------------------

    @work(thread=True, exclusive=True, group="stream", exit_on_error=False)
    def stream_alerts(self) -> None:
        reader = None
        connected: bool | None = None
        backoff = 0.5
        while not self._stop.is_set():
            try:
                reader = reader or self.backend.reader()
                backfill = reader.last_id is None
                if backfill:
                    entries = reader.backfill(self.backfill_count)
                else:
                    entries = reader.read(block_ms=self.block_ms)
            except CONNECTION_ERRORS as exc:
                if connected is not False:
                    self.post_message(StreamConnection(False, str(exc)))
                connected = False
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if connected is not True:
                self.post_message(StreamConnection(True))
                connected, backoff = True, 0.5
            if entries or backfill:
                self.post_message(AlertsArrived(entries, backfill=backfill))

    @work(thread=True, exclusive=True, group="health", exit_on_error=False)
    def watch_health(self) -> None:
        while not self._stop.is_set():
            try:
                self.post_message(HealthChecked(self.backend.probe_health()))
            except Exception:  # a probe bug must not kill the console
                if not self._stop.is_set():
                    log.exception("health probe failed")
            self._stop.wait(self.health_interval_s)

    @work(thread=True, group="labels", exit_on_error=False)
    def load_labels(self, transaction_ids: list[str]) -> None:
        try:
            self.post_message(LabelsLoaded(self.backend.labels_for(transaction_ids)))
        except CONNECTION_ERRORS as exc:
            log.warning("could not load labels: %s", exc)

    @work(thread=True, group="labels", exit_on_error=False)
    def save_label(self, alert: Alert, verdict: Verdict) -> None:
        try:
            self.backend.save_label(alert, verdict)
        except LABEL_ERRORS as exc:
            self.post_message(LabelFailed(alert.transaction_id, str(exc)))
            return
        self.post_message(LabelSaved(alert.transaction_id, verdict))

    # --- messages from workers ----------------------------------------------------------

    def on_alerts_arrived(self, message: AlertsArrived) -> None:
        if self.paused and not message.backfill:
            self.held.extend(message.entries)
            self._refresh_stats()
            return
        self._take(message.entries)

    def _take(self, entries: list[StreamEntry]) -> None:
        added = self.book.add(entries)
        if added:
            self.load_labels([e.alert.transaction_id for e in added])
        if len(self.labels) > 2 * self.book.capacity:  # forget labels of alerts we dropped
            held = {e.alert.transaction_id for e in self.book.newest_first()}
            self.labels = {t: v for t, v in self.labels.items() if t in held}
        self._refresh_all()

    def on_stream_connection(self, message: StreamConnection) -> None:
        self.stream_up = message.connected
        self.stream_detail = message.detail
        self._refresh_health()

    def on_health_checked(self, message: HealthChecked) -> None:
        self.health = message.health
        self._refresh_health()
        self._refresh_stats()

    def on_labels_loaded(self, message: LabelsLoaded) -> None:
        if message.labels:
            self.labels.update(message.labels)
            self._refresh_table()
            self._refresh_detail()
        self._refresh_quality()

    def on_label_saved(self, message: LabelSaved) -> None:
        self.labels[message.transaction_id] = message.verdict.value
        self.notify(f"{message.transaction_id} labelled {message.verdict.value}")
        self._refresh_table()
        self._refresh_detail()
        self._refresh_quality()

    def _reload_labels(self) -> None:
        ids = [entry.alert.transaction_id for entry in self.book.newest_first()]
        if ids:
            self.load_labels(ids)

    def _refresh_quality(self) -> None:
        """Precision over the alerts held (their labels were looked up by id)."""
        held = [entry.alert.transaction_id for entry in self.book.newest_first()]
        quality = detection_quality(held, self.labels, count_misses=False)
        quality_or_none = quality if quality.labelled else None
        if quality_or_none == self.quality:
            return
        self.quality = quality_or_none
        # A lookup can finish while the app is closing and its widgets are gone.
        with contextlib.suppress(NoMatches):
            self._refresh_stats()

    def on_label_failed(self, message: LabelFailed) -> None:
        self.notify(f"could not label {message.transaction_id}: {message.error}", severity="error")

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        with contextlib.suppress(NoMatches):  # the table can go while the app closes
            self._refresh_detail()

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_zoom()  # enter on a row: the table's own binding, so handled here

    # --- rendering ----------------------------------------------------------------------

    def _refresh_all(self) -> None:
        self._refresh_health()
        self._refresh_table()
        self._refresh_detail()
        self._refresh_stats()

    def _refresh_health(self) -> None:
        self.query_one(HealthBar).show(self.health, self.stream_up, self.stream_detail)

    def _refresh_table(self) -> None:
        entries = self.book.newest_first(self.alert_filter)
        self.query_one(AlertTable).show(entries, self.labels, self.tz)

    def _refresh_detail(self) -> None:
        entry = self.selected_entry()
        label = self.labels.get(entry.alert.transaction_id) if entry else None
        self.query_one("#detail-body", Static).update(detail_renderable(entry, label, self.tz))

    def _refresh_stats(self) -> None:
        now_ms = int(self.clock() * 1000)
        self.query_one(StatsPanel).show(
            per_minute=self.book.per_minute(now_ms),
            health=self.health,
            quality=self.quality,
            shown=self.query_one(AlertTable).row_count,
            held=len(self.held),
            paused=self.paused,
            filter_text=self.alert_filter.describe(),
        )

    def selected_entry(self) -> StreamEntry | None:
        key = self.query_one(AlertTable).selected_key()
        return self.book.get(key) if key else None

    # --- actions ------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_rules(self) -> None:
        from fraudctl.console.rules_screen import RulesScreen

        self.push_screen(RulesScreen(self.book.newest_first(), self.settings.kafka))

    def action_filter(self) -> None:
        self.push_screen(FilterScreen(self.alert_filter), self._apply_filter)

    def _apply_filter(self, flt: AlertFilter | None) -> None:
        if flt is not None:
            self.alert_filter = flt
            self._refresh_all()

    def action_filter_user(self) -> None:
        entry = self.selected_entry()
        if entry:
            self._apply_filter(AlertFilter(user=entry.alert.user_id))

    def action_filter_reason(self) -> None:
        entry = self.selected_entry()
        if entry and entry.alert.top_reason:
            self._apply_filter(AlertFilter(reason=entry.alert.top_reason))

    def action_clear(self) -> None:
        main = self.query_one("#main")
        if main.has_class("zoom"):
            main.remove_class("zoom")
        else:
            self._apply_filter(NO_FILTER)

    def action_zoom(self) -> None:
        self.query_one("#main").toggle_class("zoom")

    def action_cursor(self, direction: str) -> None:
        table = self.query_one(AlertTable)
        table.action_cursor_down() if direction == "down" else table.action_cursor_up()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.held:
            held, self.held = self.held, []
            self._take(held)
        self._refresh_stats()

    def action_copy_transaction(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            self.notify("no alert selected", severity="warning")
            return
        self.copy_to_clipboard(entry.alert.transaction_id)
        self.notify(f"copied {entry.alert.transaction_id}")

    def action_label(self, verdict: str) -> None:
        entry = self.selected_entry()
        if entry is None:
            self.notify("select an alert to label first", severity="warning")
            return
        self.save_label(entry.alert, Verdict(verdict))


def run_console(settings: Settings, *, backfill: int = 200) -> None:
    """Run the console in this terminal until the user quits."""
    app = FraudConsole(settings, backfill=backfill)
    try:
        app.run()
    finally:
        app.backend.close()
