"""The Textual alert console. `run_console(settings)` is what `fraudctl console` and
`fraudctl up` call; Textual is imported only when it runs."""

from __future__ import annotations

from foundation.settings import Settings


def run_console(settings: Settings, *, backfill: int = 200) -> None:
    """Open the console in this terminal; returns when the user quits."""
    from fraudctl.console.app import run_console as run

    run(settings, backfill=backfill)


__all__ = ["run_console"]
