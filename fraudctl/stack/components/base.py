"""What every stack component tells the manager: how to prepare, run and probe it."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from foundation.settings import Settings


@dataclass(frozen=True)
class StackPaths:
    """The layout of one state directory."""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def data(self, component: str) -> Path:
        return self.root / "data" / component

    def conf(self, component: str) -> Path:
        return self.root / "conf" / component


class Component(ABC):
    """One process of the stack. Subclasses are small and declarative."""

    name: str
    health_timeout_s: float = 60.0

    def __init__(self, settings: Settings, paths: StackPaths) -> None:
        self.settings = settings
        self.paths = paths

    @abstractmethod
    def ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs this component listens on."""

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line of the foreground process."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Write config files, create data dirs, format storage; runs before every start."""

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    @abstractmethod
    def probe(self, log_since_start: str) -> str | None:
        """None when healthy, else a short reason it is not (yet)."""

    def after_healthy(self) -> None:  # noqa: B027 - optional hook
        """One-off setup once healthy (e.g. create topics); must be idempotent."""

    def url(self) -> str | None:
        return None

    def port_flag(self) -> str:
        """How to pick another port for this component, for error messages."""
        return "the matching --*-port flag or FRAUDCTL_* variable"


def python_executable() -> str:
    """The interpreter of this venv (children and Flink's python workers use it)."""
    return sys.executable
