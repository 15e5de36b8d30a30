"""How every command prints machine-readable results and says what its exit code means.

JSON goes through `print_json` only: orjson, object keys sorted (the same input always gives
the same bytes, so scripts can diff outputs), one document per line (a stream such as
`fraudctl alerts --follow --json` is JSON Lines), written raw to stdout — never through Rich,
so no markup, colour or wrapping can end up inside it. Progress and warnings go to stderr.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import IntEnum
from pathlib import PurePath
from typing import Any

import click
import orjson
from pydantic import BaseModel

# Dataclasses go through `_plain` so that their keys are sorted like every other object's.
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_SERIALIZE_NUMPY
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


class ExitCode(IntEnum):
    """Exit codes shared by the commands (documented in docs/operator-guide.md)."""

    OK = 0
    FAILED = 1  # the command could not do its job (stack error, nothing reachable, ...)
    USAGE = 2  # a bad flag, argument or setting; the message names the fix
    UNHEALTHY = 3  # `fraudctl status`: at least one component is not healthy


def _plain(value: Any) -> Any:
    """What orjson cannot serialise itself, as plain JSON values; anything else is a bug."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> bytes:
    """`value` as one line of JSON with sorted keys (dataclasses become sorted objects too)."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)
    return orjson.dumps(value, default=_plain, option=_OPTIONS)


def print_json(value: Any) -> None:
    """Write `value` as one JSON line to stdout, flushed (for pipes that read as it comes)."""
    click.echo(to_json(value))
