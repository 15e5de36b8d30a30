"""What this host remembers about the scoring job between commands and the supervisor.

`fraudctl up`/`submit`/`job cancel` and the supervisor run in different processes, so
what they must agree on lives in the state directory: the record (`run/scoring-job.json`:
the current job id and model, the last runs' ids, the savepoint the last stop took and
whether the job should be kept running), the submission lock (`run/scoring-job.lock`)
and the retained checkpoints and savepoints of the last runs (`data/flink/…`), from which
the next submission resumes.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from foundation.clock import now_ms
from foundation.settings import Settings
from fraudctl.stack.components.base import StackPaths

RECORD_FILE = "scoring-job.json"
LOCK_FILE = "scoring-job.lock"
KEEP_RUNS = 2  # checkpoint directories of older runs are removed


def latest_checkpoint(settings: Settings) -> Path | None:
    """Where the next submission resumes from: the savepoint the last stop took, else the
    newest complete retained checkpoint of an earlier run of the scoring job."""
    record = read_record(settings)
    root = checkpoint_root(settings)
    history: list[str] = [str(job_id) for job_id in record.get("history", [])]
    savepoint = record.get("savepoint")
    if savepoint and history and record.get("savepoint_of") == history[0]:
        path = Path(str(savepoint))
        if (path / "_metadata").is_file():
            return path
    for job_id in history:
        chk_dirs: list[Path] = sorted(
            (path for path in (root / job_id).glob("chk-*") if (path / "_metadata").is_file()),
            key=lambda path: int(path.name.removeprefix("chk-")),
            reverse=True,
        )
        if chk_dirs:
            return chk_dirs[0]
    return None


def _paths(settings: Settings) -> StackPaths:
    return StackPaths(settings.state_dir.expanduser())


def checkpoint_root(settings: Settings) -> Path:
    return _paths(settings).data("flink") / "checkpoints"


def savepoint_root(settings: Settings) -> Path:
    return _paths(settings).data("flink") / "savepoints"


def _record_path(settings: Settings) -> Path:
    return _paths(settings).run / RECORD_FILE


def read_record(settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_record(
    settings: Settings, job_id: str, model_version: str, restored_from: Path | None
) -> None:
    previous = read_record(settings).get("history", [])
    history = [job_id, *[old for old in previous if old != job_id]]
    for stale in history[KEEP_RUNS:]:
        shutil.rmtree(checkpoint_root(settings) / stale, ignore_errors=True)
    savepoints = sorted(
        savepoint_root(settings).glob("savepoint-*"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for stale_savepoint in savepoints[KEEP_RUNS:]:
        shutil.rmtree(stale_savepoint, ignore_errors=True)
    record = {
        "job_id": job_id,
        "submitted_at_ms": now_ms(),
        "model_version": model_version,
        "restored_from": str(restored_from) if restored_from else None,
        "history": history[:KEEP_RUNS],
        "wanted": True,
    }
    _save_record(settings, record)


def forget_failed_start(settings: Settings, job_id: str, previous: dict[str, Any]) -> None:
    """Put back the record from before `job_id` was submitted, when that job ended without
    a single complete checkpoint (e.g. Flink refused to restore it): it was never a run.

    Counted as one, it would push the last real run's checkpoints and savepoint out of
    what the next submission resumes from, and a second failed try would delete them."""
    runs = checkpoint_root(settings) / job_id
    if any((chk / "_metadata").is_file() for chk in runs.glob("chk-*")):
        return
    shutil.rmtree(runs, ignore_errors=True)
    _save_record(settings, previous)


def mark_wanted(settings: Settings, wanted: bool) -> None:
    """Whether the supervisor should keep the job running (a cancel says no)."""
    record = read_record(settings)
    if record.get("wanted") != wanted and (record or wanted):
        record["wanted"] = wanted
        _save_record(settings, record)


def remember_savepoint(settings: Settings, job_id: str, location: str) -> None:
    record = read_record(settings)
    record.update(savepoint=location, savepoint_of=job_id)
    _save_record(settings, record)


def _save_record(settings: Settings, record: dict[str, Any]) -> None:
    path = _record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    temporary.replace(path)


@contextmanager
def submission_lock(settings: Settings, *, wait: bool = True) -> Iterator[bool]:
    """Two `fraudctl up`/`submit` (or the supervisor) at once must not both submit; yields
    False, without waiting, when `wait` is off and another holder has it."""
    path = _paths(settings).run / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
