"""The console's health bar reads the supervisor: `restarting` and `failed` (no services)."""

from __future__ import annotations

import os

from fraudctl.alerts.health import ComponentHealth, supervised
from fraudctl.stack.supervision import JOB, Supervised, SupervisionState


def state(pid: int | None, **items: Supervised) -> SupervisionState:
    named = {name.replace("_", "-"): item for name, item in items.items()}
    return SupervisionState(pid=pid, items=named)


def test_a_down_part_the_supervisor_restarts_reads_restarting() -> None:
    down = ComponentHealth("flink", False, "down", "connection refused")
    watching = state(os.getpid(), flink_jobmanager=Supervised("restarting", detail="gone"))
    shown = supervised(down, watching)
    assert (shown.ok, shown.detail) == (False, "restarting")
    assert "flink-jobmanager" in shown.error


def test_a_stale_state_file_does_not_claim_a_restart() -> None:
    down = ComponentHealth("gateway", False, "down", "refused")
    dead_supervisor = state(None, gateway=Supervised("restarting"))
    assert supervised(down, dead_supervisor) == down


def test_failed_wins_even_over_a_passing_probe_and_healthy_parts_stay_up() -> None:
    up = ComponentHealth("flink", True, "RUNNING")
    gave_up = state(os.getpid(), **{JOB.replace("-", "_"): Supervised("failed", detail="x")})
    assert supervised(up, gave_up).detail == "failed"
    assert supervised(ComponentHealth("redis", True, "up"), gave_up).detail == "up"
