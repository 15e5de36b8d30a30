"""The one JSON path of the CLI: sorted keys, one line, plain values, no markup."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from fraudctl.alerts import Alert
from fraudctl.output import ExitCode, print_json, to_json


@dataclasses.dataclass
class Inner:
    zulu: int
    alpha: Path


@dataclasses.dataclass
class Outer:
    name: str
    inner: list[Inner]
    tags: frozenset[str]


def test_keys_are_sorted_at_every_depth_including_dataclasses() -> None:
    value = {"b": 1, "a": Outer("[bold]x[/]", [Inner(1, Path("/tmp/m"))], frozenset({"q", "c"}))}

    assert to_json(value) == (
        b'{"a":{"inner":[{"alpha":"/tmp/m","zulu":1}],"name":"[bold]x[/]","tags":["c","q"]},"b":1}'
    )


def test_the_same_content_gives_the_same_bytes_whatever_the_insertion_order() -> None:
    assert to_json({"x": 1, "y": {"k": 2, "j": 3}}) == to_json({"y": {"j": 3, "k": 2}, "x": 1})


def test_pydantic_models_are_plain_json() -> None:
    alert = Alert(transaction_id="t[1]", user_id="u", amount=5.0, score=0.9)

    decoded = orjson.loads(to_json(alert))

    assert decoded["transaction_id"] == "t[1]"
    assert list(decoded) == sorted(decoded)


def test_unknown_objects_are_an_error_not_a_repr() -> None:
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        to_json({"x": object()})


def test_print_json_writes_exactly_one_line_without_markup_or_wrapping() -> None:
    app = typer.Typer()
    long_id = "[red]" + "x" * 300 + "[/red]"

    @app.command()
    def show() -> None:
        print_json({"id": long_id})

    result = CliRunner().invoke(app, [])

    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    assert orjson.loads(result.stdout) == {"id": long_id}
    assert "\x1b[" not in result.stdout


def test_exit_codes_are_distinct_and_documented() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3]
    guide = Path(__file__).resolve().parents[3] / "docs" / "operator-guide.md"
    text = guide.read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in text
