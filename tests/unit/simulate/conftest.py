"""A real redis-server (free port, stopped by pid) for the runner's label/alert tests, and
a pinned wall clock for tests that count injected frauds."""

from datetime import UTC, datetime
from functools import partial

import pytest

from fraudctl.simulate import runner, timeline
from tests.fixtures.redis_server import redis_client, redis_server  # noqa: F401

# How many victims a short run reaches depends on where in their day the simulated users
# are when it starts (a victim needs earlier purchases), which follows the wall clock: at
# some hours a 400-transaction run injects one fraud. Pinned, the count is the same on
# every run (about 10% of the transactions at 21:00 UTC).
PINNED_NOW = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)


@pytest.fixture
def pinned_event_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Runs placed in event time as if started at PINNED_NOW."""
    monkeypatch.setattr(
        runner, "event_time_start", partial(timeline.event_time_start, now=PINNED_NOW)
    )
    return PINNED_NOW
