"""`fraudctl up|down|status --docker` on a machine without a Docker engine (like CI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fraudctl.cli import app


def _engine_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@pytest.mark.skipif(_engine_available(), reason="a Docker engine is available here")
@pytest.mark.parametrize("verb", [["up", "--docker"], ["down", "--docker"], ["status", "--docker"]])
def test_docker_verbs_without_an_engine_exit_non_zero_with_the_fix(
    verb: list[str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path), *verb])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "Docker is not available" in text or "docker" in text.lower()
    assert "fraudctl up" in text
