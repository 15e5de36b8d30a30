"""Profile the running scoring job in place: where one TaskManager's time goes per record.

Boots a private stack (one TaskManager) on free ports in a temporary state dir, preloads
`--transactions` generated transactions and labels (as bench_job.py does), submits the job
and, while it drains that backlog at full speed, records for `--seconds`:

- the JVM with Java Flight Recorder (`jcmd <pid> JFR.start`, part of the JDK): read it with
  `jfr print --events jdk.ExecutionSample|jdk.NativeMethodSample|jdk.ThreadCPULoad OUT/tm.jfr`;
- the embedded Python with py-spy, when `--py-spy PATH` names its binary (it is not a
  dependency of this project: `python -m venv /tmp/spy && /tmp/spy/bin/pip install py-spy`);
  the samples under the scorer's `process_element` are summed per callee and printed.

The sustained rate is printed too; it is lower than bench_job.py's while the profilers run.

    .venv/bin/python benchmarks/profile_job.py --out /tmp/job-profile --py-spy /tmp/spy/bin/py-spy
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_job import preload, read_output, sustained_rate
from flink_job.topic_clients import TopicTail
from fraudctl.jobs import cancel_scoring_job, submit_job
from fraudctl.stack import StackManager
from tests.fixtures.stack import make_stack_settings

SCORER = "ScoreTransactions.process_element"


def scorer_breakdown(raw: Path, top: int = 20) -> list[tuple[int, str]]:
    """py-spy raw samples under the scorer's process_element, summed per direct callee."""
    callees: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames = [frame.split(" (")[0] for frame in stack.split(";")]
        if SCORER in frames:
            at = frames.index(SCORER)
            callees[frames[at + 1] if at + 1 < len(frames) else "(itself)"] += int(count)
    return [(n, name) for name, n in callees.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the recordings")
    parser.add_argument("--transactions", type=int, default=300_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--py-spy", type=Path, help="py-spy binary (optional)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    settings = make_stack_settings(Path(tempfile.mkdtemp(prefix="fraudctl-profile-job-")))
    manager = StackManager(settings)
    try:
        manager.up(only=["redis", "kafka", "flink-jobmanager", "flink-taskmanager"])
        took, labelled = preload(settings, args.transactions, 0.05)
        print(f"preloaded {args.transactions:,} transactions, {labelled:,} labels ({took:.0f} s)")
        launcher = manager.process("flink-taskmanager").process()
        assert launcher is not None, "the TaskManager is not running"
        jvm = next(p for p in [launcher, *launcher.children(recursive=True)] if "java" in p.name())
        tail = TopicTail(settings, settings.kafka.scores_topic)
        submit_job(settings, fresh=True)
        time.sleep(20)  # past the job's start-up
        jfr = args.out / "tm.jfr"
        subprocess.run(["jcmd", str(jvm.pid), "JFR.start", "name=profile", "settings=profile",
                        f"filename={jfr}", f"duration={args.seconds}s"],
                       check=True, capture_output=True)  # fmt: skip
        raw = args.out / "python.txt"
        if args.py_spy:
            subprocess.run([str(args.py_spy), "record", "--pid", str(jvm.pid), "--duration",
                            str(args.seconds), "--rate", "200", "--nonblocking", "--format",
                            "raw", "-o", str(raw)], check=True, capture_output=True)  # fmt: skip
        else:
            time.sleep(args.seconds)
        time.sleep(3)  # JFR writes its file when the duration ends
        records = read_output(tail, args.transactions, timeout_s=args.transactions / 300 + 120)
        tail.close()
        rate = sustained_rate([r["scored_at"] for r in records])
        print(f"scored {len(records):,} at {rate:,.0f} tx/s (profilers attached); JFR: {jfr}")
        if args.py_spy:
            print(f"python samples under {SCORER}, by callee:")
            for count, name in scorer_breakdown(raw):
                print(f"  {count:6d}  {name}")
        cancel_scoring_job(settings, savepoint=False)
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
