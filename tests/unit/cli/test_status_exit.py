"""`fraudctl status`: exit 0 only when every component is healthy, 3 otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fraudctl.cli import app
from fraudctl.stack import COMPONENT_NAMES, ComponentStatus, StackManager

runner = CliRunner()


def rows(state_of: dict[str, str]) -> list[ComponentStatus]:
    return [
        ComponentStatus(
            name=name,
            state=state_of.get(name, "healthy"),  # type: ignore[arg-type]
            pid=1000 + n,
            url=None,
            rss_bytes=0,
            detail=f"[bold]{name}[/bold] detail [Errno 111]" if name in state_of else None,
        )
        for n, name in enumerate(COMPONENT_NAMES)
    ]


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Component states the test sets; the stack manager reports them without processes."""
    state_of: dict[str, str] = {}
    monkeypatch.setattr(StackManager, "status", lambda _self: rows(state_of))
    monkeypatch.setattr(StackManager, "flink_jobs", lambda _self: [])
    return state_of


@pytest.mark.parametrize("as_json", [False, True])
def test_all_healthy_exits_0(fake_stack: dict[str, str], tmp_path: Path, as_json: bool) -> None:
    result = runner.invoke(
        app,
        ["--state-dir", str(tmp_path), "status", *(["--json"] if as_json else [])],
        env={"COLUMNS": "250"},
    )

    assert result.exit_code == 0, result.output
    if as_json:
        assert orjson.loads(result.stdout)["healthy"] is True


@pytest.mark.parametrize("state", ["unhealthy", "stopped", "stale"])
@pytest.mark.parametrize("as_json", [False, True])
def test_one_component_not_healthy_exits_3(
    fake_stack: dict[str, str], tmp_path: Path, state: str, as_json: bool
) -> None:
    fake_stack["kafka"] = state

    result = runner.invoke(
        app,
        ["--state-dir", str(tmp_path), "status", *(["--json"] if as_json else [])],
        env={"COLUMNS": "250"},
    )

    assert result.exit_code == 3, result.output
    if as_json:
        payload = orjson.loads(result.stdout)
        assert payload["healthy"] is False
        assert [c["state"] for c in payload["components"] if c["name"] == "kafka"] == [state]
        assert list(payload) == sorted(payload)
    else:
        # the detail is printed literally: not styled, not swallowed as markup
        assert "[bold]kafka[/bold] detail [Errno 111]" in " ".join(result.stdout.split())


def test_an_empty_state_dir_is_not_healthy(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--state-dir", str(tmp_path), "status", "--json"])

    assert result.exit_code == 3, result.output
    payload = orjson.loads(result.stdout)
    assert [c["name"] for c in payload["components"]] == list(COMPONENT_NAMES)
    assert {c["state"] for c in payload["components"]} == {"stopped"}
    assert payload["healthy"] is False


def test_up_json_prints_progress_to_stderr_and_the_status_to_stdout(
    fake_stack: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraudctl.commands import stack as stack_commands
    from fraudctl.stack import StackEvent

    def fake_bring_up(_manager: object, on_event: Any, **_kwargs: object) -> None:
        on_event(StackEvent("kafka", "healthy", "[red]up[/red] in 3.0 s"))

    monkeypatch.setattr(stack_commands, "bring_up", fake_bring_up)

    result = runner.invoke(app, ["--state-dir", str(tmp_path), "up", "--json"])

    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    payload = orjson.loads(line)
    assert payload["healthy"] is True
    assert payload["state_dir"] == str(tmp_path)
    assert "[red]up[/red] in 3.0 s" in result.stderr
