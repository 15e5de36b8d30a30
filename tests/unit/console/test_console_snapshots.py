"""SVG snapshots of the console at 80x24 with fixed data and a fixed clock.

Update after an intended change with `pytest tests/unit/console --snapshot-update`.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from fraudctl.console.widgets import AlertTable
from tests.console_helpers import plain, wait_until
from tests.unit.console.fakes import FixedBackend, fixed_console


async def loaded(pilot: Pilot[None]) -> None:
    app: Any = pilot.app
    await wait_until(pilot, lambda: app.query_one(AlertTable).row_count == 12)
    await wait_until(pilot, lambda: app.health is not None and app.quality is not None)
    await wait_until(pilot, lambda: "confirmed_fraud" in app.labels.values())
    await pilot.pause()


async def detail_of_third(pilot: Pilot[None]) -> None:
    await loaded(pilot)
    await pilot.press("down", "down", "enter")
    await pilot.pause()


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(fixed_console(), terminal_size=(80, 24), run_before=loaded)


def test_detail_pane(snap_compare: Any) -> None:
    assert snap_compare(fixed_console(), terminal_size=(80, 24), run_before=detail_of_third)


def test_help_screen(snap_compare: Any) -> None:
    async def help_open(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(fixed_console(), terminal_size=(80, 24), run_before=help_open)


async def test_label_keys_save_verdicts_for_the_selected_alert() -> None:
    backend = FixedBackend()
    app = fixed_console(backend)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("f", "down", "n")
        await wait_until(pilot, lambda: len(backend.saved) == 2)
    assert [(t, v.value) for t, v in backend.saved] == [
        ("txn_00011", "confirmed_fraud"),
        ("txn_00010", "false_positive"),
    ]
    # What is posted: the contract's label, with the user and merchant of the alert.
    first = backend.posted[0]
    alert = backend.entries[11].alert
    assert (first.label, first.source) == ("fraud", "analyst")
    assert (first.user_id, first.merchant_id) == (alert.user_id, alert.merchant_id)
    assert backend.posted[1].label == "legit"
    assert app.labels["txn_00011"] == "confirmed_fraud"


async def test_everything_fits_at_80x24() -> None:
    app = fixed_console()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        table = app.query_one(AlertTable)
        assert table.region.height >= 5 and table.region.width == 80
        assert app.query_one("#detail").region.height >= 5
        assert "precision 0.50 of 2 labelled" in plain(app.query_one("#stats-text"))
        assert "212 tx/s" in plain(app.query_one("#stats-text"))
        # The newest alert and its top reason are visible without scrolling.
        assert table.is_valid_row_index(0)
        assert str(table.get_row_at(0)[1]) == "txn_00011"


async def test_wide_terminal_puts_detail_beside_the_table() -> None:
    app = fixed_console()
    async with app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot)
        assert app.query_one("#main").has_class("wide")
        assert app.query_one("#detail").region.x > app.query_one(AlertTable).region.x
