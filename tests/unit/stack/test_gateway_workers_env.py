"""The gateway's process: a fresh shared metrics directory only with several workers, and
idle connections kept longer than fraudctl's clients keep them."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import GATEWAY_CLIENT_IDLE_S, GatewaySettings, Settings
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.components.web import GatewayComponent

VAR = "PROMETHEUS_MULTIPROC_DIR"


def gateway_env(tmp_path: Path, workers: int) -> dict[str, str]:
    settings = Settings(state_dir=tmp_path, gateway=GatewaySettings(workers=workers))
    return GatewayComponent(settings, StackPaths(tmp_path)).env()


def test_several_workers_get_an_empty_shared_directory_on_every_start(tmp_path: Path) -> None:
    first = Path(gateway_env(tmp_path, workers=2)[VAR])
    (first / "counter_123.db").write_bytes(b"stale")

    second = Path(gateway_env(tmp_path, workers=2)[VAR])

    assert second == first
    assert second.is_dir()
    assert second.is_relative_to(tmp_path)
    assert list(second.iterdir()) == []


def test_one_worker_keeps_its_own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "/somewhere/else")

    assert VAR not in gateway_env(tmp_path, workers=1)


def test_the_gateway_keeps_idle_connections_past_the_clients_idle_limit(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, gateway=GatewaySettings(keep_alive_s=30))
    argv = GatewayComponent(settings, StackPaths(tmp_path)).argv()

    assert argv[argv.index("--timeout-keep-alive") + 1] == "30"
    with pytest.raises(ValueError, match="keep_alive_s"):
        GatewaySettings(keep_alive_s=int(GATEWAY_CLIENT_IDLE_S))
