from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fraudctl.cli import app
from fraudctl.stack import COMPONENT_NAMES


def test_status_json_on_an_empty_state_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "status", "--json"])
    assert result.exit_code == 3, result.output  # nothing is running: not healthy
    payload = json.loads(result.output)
    assert [c["name"] for c in payload["components"]] == list(COMPONENT_NAMES)
    assert {c["state"] for c in payload["components"]} == {"stopped"}
    assert payload["healthy"] is False


def test_logs_of_an_unknown_component_lists_the_known_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "logs", "zookeeper"])
    assert result.exit_code == 1
    assert "flink-taskmanager" in result.output


def test_logs_prints_the_tail(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "redis.log").write_text("".join(f"line {i}\n" for i in range(100)))
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "logs", "redis", "-n", "3"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["line 97", "line 98", "line 99"]


def test_down_on_an_empty_state_dir_is_harmless(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), "down"])
    assert result.exit_code == 0
    assert "was not running" in result.output
