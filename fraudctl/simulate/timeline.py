"""Where a run's simulated clock starts.

The generator's users buy a few times a day, so at a fixed rate simulated time runs much
faster than wall time (1,000 users at 200 tx/s live a day every ~16 s). Starting in the
past keeps every timestamp inside the gateway's accepted range (no more than 24 h ahead
of now) and lets a run's last events look recent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fraudctl.simulate.options import SimulateOptions
from models.population import PopulationConfig

UNBOUNDED_HORIZON_S = 3600.0  # an endless run places its simulated clock for an hour


def event_time_start(options: SimulateOptions, now: datetime | None = None) -> datetime:
    """The start that makes the run's last event land about a day before now (an endless
    run is placed as if it lasted UNBOUNDED_HORIZON_S)."""
    config = PopulationConfig()
    per_user_per_day = sum(config.transactions_per_day) / 2 * (1 + config.quick_repeat_prob)
    planned = options.planned or int(options.rate * UNBOUNDED_HORIZON_S)
    days = planned / (options.users * per_user_per_day) * 1.2 + 1.0
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.replace(microsecond=0)
