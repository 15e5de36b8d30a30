"""Submitting a PyFlink job to the local Flink session cluster.

Finding, waiting for and cancelling jobs is the REST client's (`foundation.flink_rest`);
submission goes through Flink's own `flink run -py` client from the PyFlink distribution,
pointed at the stack's config dir, so the connector jars and the venv's python are the
ones the cluster uses.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from foundation.settings import Settings, settings_env
from fraudctl.stack.components.base import StackPaths
from fraudctl.stack.components.flink import pyflink_home
from fraudctl.stack.errors import StackError

JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")
FIXED_JOB_ID = "$internal.pipeline.job-id"  # Flink's option for a job id chosen by the client


class JobSubmitFailed(StackError):
    """`flink run` did not submit the job."""


def submit_python_job(
    settings: Settings,
    script: Path,
    args: list[str] | None = None,
    py_files: list[Path] | None = None,
    timeout_s: float = 180.0,
    restore_from: Path | None = None,
    extra_env: dict[str, str] | None = None,
    *,
    job_id: str | None = None,
    allow_non_restored_state: bool = False,
) -> str:
    """Run `flink run -d -py script` against the stack's cluster; the new job's id.

    `restore_from` is a checkpoint or savepoint directory to start from; state in it that
    no operator claims fails the submission unless `allow_non_restored_state`. `job_id`
    (32 hex digits) fixes the new job's id, so a retry after a timeout cannot start a
    second copy (the cluster refuses a known id). `extra_env` reaches the script.
    """
    paths = StackPaths(settings.state_dir.expanduser())
    home = pyflink_home()
    argv = ["bash", str(home / "bin" / "flink"), "run", "-d"]
    if restore_from is not None:
        argv += ["-s", str(restore_from)]
        if allow_non_restored_state:
            argv.append("-n")
    if job_id is not None:
        argv += ["-D", f"{FIXED_JOB_ID}={job_id}"]
    argv += ["-py", str(script)]
    if py_files:
        argv += ["-pyfs", ",".join(str(p) for p in py_files)]
    argv += args or []
    env = {
        **os.environ,
        **settings_env(settings),
        "FLINK_CONF_DIR": str(paths.conf("flink")),
        "FLINK_LIB_DIR": str(paths.data("flink") / "lib"),
        "FLINK_LOG_DIR": str(paths.logs),
        **(extra_env or {}),
    }
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise JobSubmitFailed(f"`flink run` did not finish within {timeout_s:.0f} s") from exc
    output = result.stdout + result.stderr
    match = JOB_ID.search(output)
    if result.returncode != 0 or match is None:
        raise JobSubmitFailed(
            f"`flink run -py {script.name}` failed (exit {result.returncode}):\n{output[-3000:]}"
        )
    return str(match.group(1))
