"""One-shot job submitter of the compose stack: submit the scoring job unless it runs already.

Compose starts this container again on every `up`, so it must be idempotent: when the
JobManager already has the job (by its configured name) in an active state, it says so and
exits 0; otherwise it hands over to `fraudctl submit`, which submits and waits for RUNNING.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from foundation.flink_rest import FlinkJob, FlinkRest, FlinkUnreachable
from foundation.settings import Settings, get_settings

SUBMIT_ARGV = ("fraudctl", "submit")


def _exec(argv: Sequence[str]) -> None:
    os.execvp(argv[0], list(argv))


def active_jobs(settings: Settings, name: str) -> list[FlinkJob]:
    return FlinkRest.of(settings).active_jobs(name)


def main(
    settings: Settings,
    list_active: Callable[[Settings, str], list[FlinkJob]] = active_jobs,
    run: Callable[[Sequence[str]], None] = _exec,
) -> int:
    name = settings.flink.job_name
    try:
        running = list_active(settings, name)
    except FlinkUnreachable as exc:
        print(f"cannot list the jobs at {settings.flink.rest_url}: {exc}", file=sys.stderr)
        return 1
    if running:
        job = running[0]
        print(f"job {name!r} is already {job.state} as {job.job_id}: not submitting it again")
        return 0
    print(f"submitting {name!r} to {settings.flink.rest_url}: {' '.join(SUBMIT_ARGV)}", flush=True)
    run(SUBMIT_ARGV)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_settings()))
