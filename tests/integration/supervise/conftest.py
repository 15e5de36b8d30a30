"""A private supervised stack for the self-healing test (the session `stack` has none)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.settings import Settings
from fraudctl.bootstrap import bring_up
from fraudctl.stack import StackEvent, StackManager
from tests.fixtures.stack import make_stack_settings


def _quiet(_event: StackEvent) -> None:
    return None


@pytest.fixture(scope="module")
def supervised_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackManager]:
    """The whole stack as `fraudctl up` leaves it: job running, supervisor watching."""
    settings: Settings = make_stack_settings(Path(tmp_path_factory.mktemp("supervised")))
    manager = StackManager(settings)
    try:
        bring_up(manager, _quiet, supervise=True)
        yield manager
    finally:
        manager.down(purge=True)
