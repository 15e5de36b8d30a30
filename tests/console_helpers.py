"""Helpers shared by the console tests: plain text of widgets, waiting in a Pilot."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from fraudctl.console.app import FraudConsole
from fraudctl.console.widgets import AlertTable


def plain(widget: Static, width: int = 100) -> str:
    """What a Static shows, as plain text (Rich renderables rendered off-screen)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def table_transactions(app: FraudConsole) -> list[str]:
    table = app.query_one(AlertTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], timeout_s: float = 5.0
) -> float:
    """Let the app run until `condition()` holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await pilot.pause(0.02)
    return time.monotonic() - start
