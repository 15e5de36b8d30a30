"""What the supervisor has done, as a small JSON file other processes read.

The supervisor (fraudctl/stack/supervisor.py) writes `run/supervisor-state.json` after
every change; `fraudctl status`, the console's health bar and the tests read it. Reading
never fails: a missing or torn file is "no supervision".
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from fraudctl.stack.components.base import StackPaths

SUPERVISOR = "supervisor"
STATE_FILE = "supervisor-state.json"
JOB = "scoring-job"

Watch = Literal["ok", "down", "restarting", "failed"]


@dataclass
class Supervised:
    """One supervised thing (a component, or the scoring job): its state and restarts."""

    state: Watch = "ok"
    restarts: int = 0
    last_restart_at: float | None = None  # epoch seconds of the last successful restart
    failures: int = 0  # failed restarts in a row
    detail: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Supervised:
        state = data.get("state", "ok")
        return cls(
            state=state if state in ("ok", "down", "restarting", "failed") else "ok",
            restarts=int(data.get("restarts", 0)),
            last_restart_at=data.get("last_restart_at"),
            failures=int(data.get("failures", 0)),
            detail=str(data.get("detail", "")),
        )


@dataclass
class SupervisionState:
    """Everything the supervisor reports, keyed by component name (and `scoring-job`)."""

    pid: int | None = None
    updated_at: float = 0.0
    items: dict[str, Supervised] = field(default_factory=dict)

    def alive(self) -> bool:
        """Whether the supervisor that wrote this still runs (else "restarting" is stale)."""
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def get(self, name: str) -> Supervised:
        return self.items.setdefault(name, Supervised())

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "updated_at": self.updated_at,
            "items": {name: asdict(item) for name, item in self.items.items()},
        }


@dataclass(frozen=True)
class JobCheck:
    """What one look at the scoring job found (and did), for the supervisor."""

    state: Watch  # ok, down (e.g. waiting for slots), restarting (resumed now), failed
    detail: str = ""
    resumed: bool = False


def state_path(paths: StackPaths) -> Path:
    return paths.run / STATE_FILE


def read_state(paths: StackPaths) -> SupervisionState:
    """The last state the supervisor wrote; empty when there is none (or it is unreadable)."""
    try:
        data = json.loads(state_path(paths).read_text())
        items = {str(k): Supervised.from_dict(v) for k, v in data.get("items", {}).items()}
        return SupervisionState(data.get("pid"), float(data.get("updated_at", 0.0)), items)
    except (OSError, ValueError, TypeError, AttributeError):
        return SupervisionState()


def write_state(paths: StackPaths, state: SupervisionState) -> None:
    """Atomically replace the state file (readers never see half a file)."""
    state.updated_at = time.time()
    path = state_path(paths)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state.to_dict(), indent=2) + "\n")
    temporary.replace(path)
