"""The highest sustained rate of one `fraudctl simulate` process, single and batched.

A rate is *sustained* when a timed run sends every scheduled transaction (none left
behind), the achieved rate is within 2% of the request and every transaction was
failed (5xx, timeouts; 4xx refusals of generated data are not load). The ladder of
rates is climbed until a rung fails (twice in a row: one retry);
each rung is run `--repeat` times and the median achieved rate is reported.

By default the simulator talks to a sink: a separate uvicorn process that answers like
the gateway (202, per-item batch results) without Kafka, so the figure is the
simulator's own ceiling. `--gateway URL` measures against a running gateway instead
(then the gateway and Kafka are part of the figure). Baseline, measured in the same run:
the same simulator sending through httpx.AsyncClient.post instead of the pooled
transport directly.

    .venv/bin/python benchmarks/bench_simulate.py                 # sink, both modes
    .venv/bin/python benchmarks/bench_simulate.py --gateway http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from foundation.settings import settings_with  # noqa: E402
from fraudctl.simulate.options import build_options  # noqa: E402
from fraudctl.simulate.runner import Simulation  # noqa: E402
from fraudctl.simulate.sender import GatewaySender, Outcome, _reason  # noqa: E402
from fraudctl.simulate.stats import ACCEPTED  # noqa: E402

SINK_APP = """
import orjson

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 202
    try:
        if scope["path"] == "/transactions":
            items = orjson.loads(body)
            out = orjson.dumps({"accepted": len(items), "rejected": 0, "failed": 0,
                "results": [{"index": i, "status": 202} for i in range(len(items))]})
        elif scope["path"] == "/transaction":
            orjson.loads(body)
            out = b'{"status":"accepted"}'
        else:
            status, out = 200, b'{"status":"ok"}'
    except orjson.JSONDecodeError:  # a request abandoned mid-body at the end of a run
        status, out = 400, b'{"error":"bad_json"}'
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})
"""


class ClientSender(GatewaySender):
    """Baseline: the same requests through httpx.AsyncClient (cookies, URL merging...)."""

    def __init__(self, base_url: str, connections: int, timeout_s: float) -> None:
        super().__init__(base_url, connections=connections, timeout_s=timeout_s)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            timeout=timeout_s,
        )

    async def send_one(self, body: dict[str, Any]) -> Outcome:
        try:
            response = await self.client.post(
                "/transaction",
                content=orjson.dumps(body),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError:
            return Outcome("unreachable")
        if response.status_code == ACCEPTED:
            return Outcome(ACCEPTED)
        return Outcome(response.status_code, *_reason(response.json()))

    async def close(self) -> None:
        await self.client.aclose()
        await super().close()


@dataclass
class Rung:
    rate: float
    achieved: float
    behind: int
    errors: int
    cpu_us_per_tx: float
    p99_ms: float | None

    @property
    def sustained(self) -> bool:
        return self.behind == 0 and self.errors == 0 and abs(self.achieved / self.rate - 1) <= 0.02


def start_sink() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app_dir = Path("/tmp") / f"fraudctl-bench-sink-{os.getpid()}"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "bench_sink.py").write_text(SINK_APP)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_sink:app", "--host", "127.0.0.1", "--port",
         str(port), "--log-level", "warning", "--no-access-log", "--lifespan", "off",
         "--app-dir", str(app_dir)],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sink did not start")


async def one_run(url: str, rate: float, batch: int, seconds: float, baseline: bool) -> Rung:
    settings = settings_with({"redis.port": 1, "simulate.drain_timeout_s": 0})
    options = build_options(
        rate=rate, duration=str(seconds), count=None, users=2000, fraud_ratio=0.01,
        pattern_names=[], seed=1, gateway_url=url, batch_size=batch, max_batch=100_000,
    )  # fmt: skip
    sim_cfg = settings.simulate
    sender = (
        ClientSender(url, sim_cfg.connections, sim_cfg.request_timeout_s)
        if baseline
        else GatewaySender(
            url, connections=sim_cfg.connections, timeout_s=sim_cfg.request_timeout_s
        )
    )
    sim = Simulation(options, settings, sender=sender, use_redis=False, use_kafka=False)
    await sim.prepare()
    cpu = time.process_time()
    summary = await sim.run(asyncio.Event())
    cpu = time.process_time() - cpu
    return Rung(
        rate=rate,
        achieved=summary.achieved_rate,
        behind=summary.behind,
        errors=summary.failed,  # 4xx are input refusals (counted in the summary), not load
        cpu_us_per_tx=cpu / max(1, summary.sent) * 1e6,
        p99_ms=summary.latency.p99_ms,
    )


def run_rung(
    url: str, rate: float, batch: int, seconds: float, repeat: int, baseline: bool
) -> Rung:
    import uvloop

    runs = []
    for _ in range(repeat):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runs.append(runner.run(one_run(url, rate, batch, seconds, baseline)))
    median = sorted(runs, key=lambda r: r.achieved)[len(runs) // 2]
    return Rung(
        rate=rate,
        achieved=statistics.median(r.achieved for r in runs),
        behind=median.behind,
        errors=max(r.errors for r in runs),
        cpu_us_per_tx=statistics.median(r.cpu_us_per_tx for r in runs),
        p99_ms=median.p99_ms,
    )


def climb(
    url: str,
    label: str,
    rates: list[float],
    batch: int,
    args: argparse.Namespace,
    baseline: bool = False,
) -> float:
    """The highest rung reached with every rung below it sustained (a failing rung gets
    one more try, so a single noisy run on a shared machine does not end the climb)."""
    best = 0.0
    print(f"\n{label}: batch {batch}{' (baseline: httpx.AsyncClient)' if baseline else ''}")
    columns = ("requested", "achieved", "err%", "behind", "errors", "cpu µs/tx", "p99 ms")
    widths = (10, 10, 7, 7, 7, 10, 8)
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True)))
    for rate in rates:
        for attempt in (1, 2):
            rung = run_rung(url, rate, batch, args.seconds, args.repeat, baseline)
            mark = "ok" if rung.sustained else ("NO" if attempt == 2 else "NO, retrying")
            p99 = "-" if rung.p99_ms is None else f"{rung.p99_ms:.1f}"
            error = 100 * (rung.achieved / rate - 1)
            print(
                f"{rate:>10,.0f} {rung.achieved:>10,.1f} {error:>+6.1f}% "
                f"{rung.behind:>7} {rung.errors:>7} {rung.cpu_us_per_tx:>10.0f} {p99:>8}  {mark}",
                flush=True,
            )
            if rung.sustained:
                break
        if not rung.sustained:
            break
        best = rate
    print(f"=> highest sustained: {best:,.0f} tx/s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", help="measure against this gateway instead of the sink")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per rung (median)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    sink = None
    if args.gateway:
        url = args.gateway
    else:
        sink, url = start_sink()
    try:
        print(f"target {url} · {os.cpu_count()} cpus · load {os.getloadavg()[0]:.1f} · "
              f"{args.seconds:g} s per run · median of {args.repeat}")  # fmt: skip
        single_rates = [200, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000]
        batch_rates = [1000, 2000, 5000, 10_000, 15_000, 20_000, 30_000, 40_000, 60_000]
        base = (
            0.0 if args.no_baseline else climb(url, "single", single_rates, 1, args, baseline=True)
        )
        single = climb(url, "single", single_rates, 1, args)
        batched = climb(url, "batched", batch_rates, args.batch_size, args)
        print("\nsummary (highest sustained tx/s, one simulate process)")
        if base:
            print(f"  single, httpx.AsyncClient baseline : {base:,.0f}")
            gain = f"({single / base:.2f}x baseline)"
            print(f"  single, pooled transport           : {single:,.0f}  {gain}")
        else:
            print(f"  single                             : {single:,.0f}")
        ratio = f"  ({batched / single:.1f}x single)" if single else ""
        print(f"  batched ({args.batch_size}/request)               : {batched:,.0f}{ratio}")
    finally:
        if sink is not None:
            sink.terminate()
            sink.wait(timeout=10)


if __name__ == "__main__":
    main()
