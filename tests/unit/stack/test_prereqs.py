from __future__ import annotations

from pathlib import Path

import pytest

from fraudctl.stack.errors import PrerequisiteMissing
from fraudctl.stack.prereqs import check_java, check_maven, check_redis_server, java_major


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.22" 2024-01-16', 11),
        ("no version here", None),
    ],
)
def test_java_major(output: str, major: int | None) -> None:
    assert java_major(output) == major


def _fake_java(tmp_path: Path, version: str) -> None:
    script = tmp_path / "java"
    script.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\"' >&2\n")
    script.chmod(0o755)


def test_old_java_is_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(tmp_path, "11.0.2")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match=r"Java 11.*17 or newer.*apt-get install"):
        check_java()


def test_missing_tools_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match="java was not found"):
        check_java()
    with pytest.raises(PrerequisiteMissing, match="apt-get install maven"):
        check_maven()
    with pytest.raises(PrerequisiteMissing, match="apt-get install redis-server"):
        check_redis_server("redis-server")


def test_new_java_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_java(tmp_path, "21.0.1")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert check_java() == str(tmp_path / "java")
