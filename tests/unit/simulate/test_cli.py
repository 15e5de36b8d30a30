"""`fraudctl simulate` and `fraudctl demo` from the command line (a real HTTP fake
gateway and a real redis-server; no Kafka or Flink)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import redis
from typer.testing import CliRunner

from fraudctl.cli import app
from tests.fixtures.ports import free_ports
from tests.fixtures.redis_server import RedisServer
from tests.unit.simulate.http_gateway import HttpGateway, serve

runner = CliRunner()


@pytest.fixture
def env(redis_server: RedisServer, redis_client: redis.Redis) -> dict[str, str]:
    closed = free_ports(2)  # nothing listens there: Kafka and Flink are absent
    return {
        "FRAUDCTL_REDIS__PORT": str(redis_server.port),
        "FRAUDCTL_KAFKA__PORT": str(closed[0]),
        "FRAUDCTL_FLINK__REST_PORT": str(closed[1]),
        "FRAUDCTL_SIMULATE__DRAIN_TIMEOUT_S": "1",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate 0.0 is out of range"),
        (["--rate", "-5"], "positive number"),
        (["--duration", "soon"], "--duration 'soon' is not a duration"),
        (["--duration", "0s"], "must be longer than zero"),
        (["--duration", "10", "--count", "5"], "choose one"),
        (["--count", "0"], "--count 0 must be at least 1"),
        (["--users", "0"], "--users 0 is out of range"),
        (["--fraud-ratio", "1.5"], "--fraud-ratio 1.5 is out of range"),
        (["--pattern", "card_testing,bogus"], "--pattern bogus is not a known fraud pattern"),
        (["--seed", "-1"], "--seed -1 must be 0 or more"),
        (["--batch-size", "0"], "--batch-size 0 is out of range"),
        (["--batch-size", "5000"], "limit of 1000"),
        (["--gateway", "localhost:8000"], "is not an http(s) URL"),
        (["--gateway", "http://127.0.0.1:99999"], "invalid port"),
        (["--label-delay", "soon"], "--label-delay 'soon' is not a delay"),
        (["--label-delay", "2d"], "--label-delay '2d' is not a delay"),
        (["--label-delay", "25h"], "longer than a day"),
    ],
)
def test_bad_flags_exit_2_with_the_fix(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_unreachable_gateway_exits_1_with_a_clear_message() -> None:
    port = free_ports(1)[0]
    result = runner.invoke(
        app, ["simulate", "--count", "5", "--gateway", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert f"cannot reach the gateway at http://127.0.0.1:{port}" in out
    assert "fraudctl up" in out


@pytest.mark.parametrize("batch", [1, 20])
def test_json_summary_and_labels(
    env: dict[str, str], redis_client: redis.Redis, batch: int, pinned_event_clock: datetime
) -> None:
    gateway = HttpGateway()
    with serve(gateway) as url:
        args = ["simulate", "--count", "300", "--rate", "600", "--users", "50", "--seed", "5",
                "--fraud-ratio", "0.1", "--batch-size", str(batch), "--gateway", url,
                "--json"]  # fmt: skip
        result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sent"] == summary["accepted"] == len(gateway.received) == 300
    assert summary["mode"] == ("single" if batch == 1 else f"batch of {batch}")
    assert summary["seed"] == 5 and summary["stopped_by"] == "count"
    # the fake gateway shares this process's CPU, so only the arithmetic is checked here
    assert summary["elapsed_s"] >= 0.5
    # elapsed_s is rounded to the ms and achieved_rate (to 0.01) is from the unrounded time
    elapsed = summary["elapsed_s"]
    slowest, fastest = 300 / (elapsed + 0.0005), 300 / (elapsed - 0.0005)
    assert slowest - 0.005 <= summary["achieved_rate"] <= fastest + 0.005
    labels = gateway.labels  # posted at the end: the default delay outlasts the run
    assert len(labels) == summary["labels_recorded"] == 300
    frauds = [label for label in labels if label["label"] == "fraud"]
    assert len(frauds) == summary["frauds_injected"] > 0
    assert redis_client.keys("fraud:labels*") == []  # no alerts: nothing to mirror
    assert summary["quality"]["recall"] == 0.0  # no job here: every fraud is a miss


def test_plain_output_prints_the_summary_table(env: dict[str, str]) -> None:
    with serve(HttpGateway()) as url:
        result = runner.invoke(
            app, ["simulate", "--count", "40", "--rate", "400", "--gateway", url], env=env
        )
    assert result.exit_code == 0, result.output
    assert "simulate summary" in result.output
    assert "40 accepted" in result.output


def test_demo_prints_the_alert_with_reasons_and_latency(
    env: dict[str, str], redis_client: redis.Redis
) -> None:
    gateway = HttpGateway(redis_port=int(env["FRAUDCTL_REDIS__PORT"]))
    with serve(gateway) as url:
        result = runner.invoke(app, ["demo", "--no-prompt", "--gateway", url], env=env)
        again = runner.invoke(app, ["demo", "--no-prompt", "--gateway", url], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "FRAUD ALERT" in out and "AMOUNT_SPIKE" in out and "100x this user's average" in out
    assert "35.0 ms gateway → alert" in out
    assert "5,000.00" in out and "user-test-123" in out
    assert again.exit_code == 0, again.output
    ids = [b["transaction_id"] for b in gateway.received]
    assert len(ids) == len(set(ids)) == 4  # reruns send fresh ids
    assert [b["amount"] for b in gateway.received] == [50.0, 5000.0, 50.0, 5000.0]
    assert {b["merchant_id"] for b in gateway.received} == {"merchant_a", "merchant_b"}
    assert sorted(label["label"] for label in gateway.labels) == [
        "fraud",
        "fraud",
        "legit",
        "legit",
    ]
    mirrored = [redis_client.get(f"fraud:labels:{txn}") for txn in ids]
    assert sorted(mirrored) == ["fraud", "fraud", "legit", "legit"]


def test_demo_without_an_alert_says_what_to_check(env: dict[str, str]) -> None:
    with serve(HttpGateway()) as url:  # no job: nothing ever alerts
        result = runner.invoke(
            app, ["demo", "--no-prompt", "--gateway", url, "--timeout", "1"], env=env
        )
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "no alert for txn_fraud_002-" in out and "fraudctl status" in out
    assert "is not running" in out  # the job warning came first


def test_ctrl_c_stops_cleanly_and_prints_the_summary(env: dict[str, str]) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from foundation.settings import REPO_ROOT

    gateway = HttpGateway()
    with serve(gateway) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "fraudctl.cli", "simulate", "--rate", "100", "--json",
             "--users", "50", "--gateway", url],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO_ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while len(gateway.received) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stopped_by"] == "interrupt"
    assert summary["sent"] >= 100
    assert summary["accepted"] == len(gateway.received) == summary["sent"]
    assert "Traceback" not in err


def test_background_traffic_starts_and_stops_with_a_summary(
    env: dict[str, str], tmp_path: object
) -> None:
    """What `fraudctl demo` runs behind the console (and `fraudctl up` may too)."""
    import time

    from foundation.settings import settings_with
    from fraudctl.simulate.background import (
        log_path,
        start_background_simulation,
        stop_background_simulation,
    )

    gateway = HttpGateway()
    with serve(gateway) as url:
        host, port = url.removeprefix("http://").split(":")
        settings = settings_with(
            {
                "state_dir": tmp_path,
                "gateway.host": host,
                "gateway.port": int(port),
                "redis.port": int(env["FRAUDCTL_REDIS__PORT"]),
                "kafka.port": int(env["FRAUDCTL_KAFKA__PORT"]),
                "flink.rest_port": int(env["FRAUDCTL_FLINK__REST_PORT"]),
            }
        )
        process = start_background_simulation(settings, 80.0, ["--users", "50"])
        deadline = time.monotonic() + 30
        while len(gateway.received) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        summary = stop_background_simulation(process)
    assert summary is not None, log_path(settings).read_text()
    assert summary["stopped_by"] == "interrupt"
    assert summary["requested_rate"] == 80.0
    assert summary["accepted"] == len(gateway.received) >= 40
    assert process.returncode == 0
