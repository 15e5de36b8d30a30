"""Benchmark: the gateway's single-request latency as a new user meets it, job running or not.

Boots a private stack (Kafka, Redis, Flink, gateway; one TaskManager) on free ports in a
temporary state dir, submits the scoring job, measures its first minute at 200 req/s on its
own, then runs `fraudctl simulate --rate R --duration S --json` (one transaction per
request, open loop: a request's latency counts from when it was due, so a stall is not
hidden by the requests it delays), `--rounds` times per rate, first with the (now warm) job
scoring every transaction, then with the job cancelled (the baseline of the same run:
gateway, broker and simulator alone). What competes with the gateway is whatever the stack
does on the host's cores: the JVMs, the job's Python, the supervisor (not started here:
`StackManager.up` alone, as the tests do).

    .venv/bin/python benchmarks/bench_gateway_tail.py --rates 200,1000 --rounds 3 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foundation.settings import Settings, settings_env
from fraudctl.jobs import cancel_scoring_job, submit_job
from fraudctl.stack import StackManager
from tests.fixtures.stack import make_stack_settings

FRAUDCTL = Path(sys.executable).parent / "fraudctl"


def load() -> float:
    return round(os.getloadavg()[0], 1)


def simulate(settings: Settings, rate: int, seconds: int, seed: int) -> dict[str, Any]:
    """One `fraudctl simulate` run against the stack; its JSON summary."""
    env = {**os.environ, **settings_env(settings)}
    args = [str(FRAUDCTL), "simulate", "--rate", str(rate), "--duration", str(seconds),
            "--seed", str(seed), "--label-delay", "0", "--json"]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 180)
    if done.returncode != 0:
        raise RuntimeError(f"simulate failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def rounds(settings: Settings, rate: int, count: int, seconds: int) -> dict[str, Any]:
    runs = []
    for index in range(count):
        before = load()
        summary = simulate(settings, rate, seconds, seed=1000 + 17 * index + rate)
        latency = summary["latency"]
        runs.append(
            {
                "p50_ms": latency["p50_ms"],
                "p99_ms": latency["p99_ms"],
                "max_ms": latency["max_ms"],
                "achieved_rate": summary["achieved_rate"],
                "accepted": summary["accepted"],
                "sent": summary["sent"],
                "load": [before, load()],
            }
        )
        print(f"  {rate} req/s round {index + 1}: {json.dumps(runs[-1])}", flush=True)
    return {
        "rate": rate,
        "rounds": runs,
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "max_ms": statistics.median(r["max_ms"] for r in runs),
        "achieved_rate": statistics.median(r["achieved_rate"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]

    state = Path(tempfile.mkdtemp(prefix="fraudctl-bench-gw-tail-"))
    settings = make_stack_settings(state)
    manager = StackManager(settings)
    results: dict[str, Any] = {"load_start": load()}
    try:
        print(f"booting a private stack in {state} … (load {load()})", flush=True)
        manager.up()
        submit_job(settings, fresh=True)
        # The first minute of a freshly submitted job (JVMs compiling, caches cold) is
        # reported on its own; the warm rounds follow it.
        first = simulate(settings, 200, 60, seed=1)
        results["first minute"] = {key: first["latency"][key] for key in ("p50_ms", "p99_ms")}
        results["first minute"]["load"] = load()
        print(f"first minute at 200 req/s: {json.dumps(results['first minute'])}", flush=True)
        for phase in ("job running", "job cancelled"):
            if phase == "job cancelled":
                cancel_scoring_job(settings, savepoint=False)
                time.sleep(5)
            print(f"{phase}:", flush=True)
            results[phase] = [rounds(settings, rate, args.rounds, args.seconds) for rate in rates]
        results["load_end"] = load()
        print("\n| rate | job | p50 | p99 | max | achieved |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for index, rate in enumerate(rates):
            for phase in ("job running", "job cancelled"):
                r = results[phase][index]
                print(f"| {rate} req/s | {phase} | {r['p50_ms']} ms | {r['p99_ms']} ms | "
                      f"{r['max_ms']} ms | {r['achieved_rate']}/s |")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        manager.down(purge=True)


if __name__ == "__main__":
    main()
