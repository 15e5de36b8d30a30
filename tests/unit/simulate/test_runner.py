"""A whole run against a fake gateway (httpx MockTransport) and a real redis-server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio as aioredis

from foundation.settings import Settings, settings_with
from fraudctl.labels_client import LabelClient
from fraudctl.simulate.options import SimulateOptions, build_options
from fraudctl.simulate.runner import GatewayUnreachable, Simulation
from fraudctl.simulate.sender import GatewaySender
from fraudctl.simulate.timeline import event_time_start
from models.contracts.alert import alert_fields
from models.contracts.label import Label
from models.contracts.timestamps import epoch_ms, parse_timestamp
from tests.fixtures.redis_server import RedisServer
from tests.unit.simulate.fakes import FakeGateway


def make_settings(redis_port: int = 1) -> Settings:
    return settings_with(
        {"redis.port": redis_port, "simulate.drain_timeout_s": 2.0, "simulate.backoff_max_s": 0.2}
    )


def make_options(**overrides: object) -> SimulateOptions:
    args: dict[str, object] = {
        "rate": 1000.0,
        "duration": None,
        "count": 400,
        "users": 100,
        "fraud_ratio": 0.2,
        "pattern_names": [],
        "seed": 11,
        "gateway_url": "http://gw",
        "batch_size": 1,
        "max_batch": 1000,
    }
    args.update(overrides)
    return build_options(**args)  # type: ignore[arg-type]


def simulation(
    gateway: FakeGateway, options: SimulateOptions, settings: Settings, **kw: object
) -> Simulation:
    sender = GatewaySender("http://gw", transport=gateway.transport())
    labels = LabelClient("http://gw", transport=gateway.label_transport())
    return Simulation(
        options,
        settings,
        sender=sender,
        use_kafka=False,
        label_client=labels,
        **kw,  # type: ignore[arg-type]
    )


async def run(sim: Simulation) -> object:
    await sim.prepare()
    return await sim.run(asyncio.Event())


async def perfect_detector(
    client: aioredis.Redis, gateway: FakeGateway, sim: Simulation, stream: str, stop: asyncio.Event
) -> None:
    """A stand-in for the job that knows the truth: alerts every fraud, plus the first
    genuine transaction (one false positive)."""
    done: set[str] = set()
    false_positive_sent = False
    while not stop.is_set():
        for body in list(gateway.received):
            txn = body["transaction_id"]
            if txn in done:
                continue
            done.add(txn)
            fraud = txn in sim.quality.frauds
            if fraud or not false_positive_sent:
                false_positive_sent = false_positive_sent or not fraud
                alert = {
                    "transaction_id": txn,
                    "user_id": body["user_id"],
                    "amount": body["amount"],
                    "score": 0.9,
                    "received_at": 1000,
                    "detected_at": 1042,
                }
                await client.xadd(stream, alert_fields(alert))
        await asyncio.sleep(0.02)


async def test_labels_posted_mirrored_and_quality_from_the_alert_stream(
    redis_server: RedisServer, redis_client: redis.Redis, pinned_event_clock: datetime
) -> None:
    settings = make_settings(redis_server.port)
    gateway = FakeGateway(refuse_amount_over=3000.0)
    options = make_options(batch_size=25)
    # an alert from someone else's traffic, already on the stream: must not count
    redis_client.xadd(
        settings.redis.alerts_stream,
        alert_fields({"transaction_id": "txn_old", "user_id": "u", "amount": 1, "score": 1}),
    )
    sim = simulation(gateway, options, settings)
    await sim.prepare()
    stop = asyncio.Event()
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    job = asyncio.create_task(
        perfect_detector(client, gateway, sim, settings.redis.alerts_stream, stop)
    )
    summary = await sim.run(asyncio.Event())
    stop.set()
    await job
    await client.aclose()

    assert summary.sent == 400 and summary.stopped_by == "count"
    assert summary.accepted == len(gateway.received)
    assert summary.accepted + summary.rejected == 400
    # Every accepted transaction's truth went to POST /labels, with its user and merchant.
    assert len(gateway.labels) == summary.labels_recorded == summary.accepted
    bodies = {b["transaction_id"]: b for b in gateway.received}
    assert {label["transaction_id"] for label in gateway.labels} == set(bodies)
    for label in gateway.labels:
        body = bodies[label["transaction_id"]]
        assert (label["user_id"], label["merchant_id"]) == (body["user_id"], body["merchant_id"])
        assert label["source"] == "simulator"
        assert Label.from_record(label).labelled_at >= epoch_ms(parse_timestamp(body["timestamp"]))
    frauds = sum(1 for label in gateway.labels if label["label"] == "fraud")
    assert frauds == summary.frauds_injected > 0
    # Redis mirrors only the labels of alerted transactions, each with a TTL.
    mirrored = {
        key.removeprefix(f"{settings.redis.labels_key}:"): redis_client.get(key)
        for key in redis_client.scan_iter(f"{settings.redis.labels_key}:*")
    }
    assert len(mirrored) == frauds + 1
    assert sorted(set(mirrored.values())) == ["fraud", "legit"]
    assert 0 < redis_client.ttl(f"{settings.redis.labels_key}:{next(iter(mirrored))}") <= 86_400
    assert redis_client.type(settings.redis.labels_key) == "none"  # no unbounded hash
    for body in gateway.received:  # ground truth never travels with the transaction
        assert set(body) <= {
            "transaction_id",
            "user_id",
            "card_number",
            "amount",
            "currency",
            "timestamp",
            "merchant_id",
            "location",
            "latitude",
            "longitude",
        }
        assert body["transaction_id"].endswith(f"-{summary.run_id}")
    q = summary.quality
    assert (q.true_positives, q.false_positives, q.false_negatives) == (frauds, 1, 0)
    assert q.recall == 1.0 and q.precision == round(frauds / (frauds + 1), 4)
    assert summary.alerts_seen == frauds + 1
    assert summary.alert_latency.p50_ms == pytest.approx(42.0, rel=0.01)
    if summary.rejected:
        assert summary.errors[0]["message"] == "amount: is too large for this test"


async def test_rate_holds_against_a_fast_gateway() -> None:
    gateway = FakeGateway()
    options = make_options(count=None, duration="2", rate=500.0)
    summary = await run(simulation(gateway, options, make_settings(), use_redis=False))
    assert summary.sent == gateway.requests == 1000  # type: ignore[attr-defined]
    assert summary.achieved_rate == pytest.approx(500.0, rel=0.02)  # type: ignore[attr-defined]


async def test_gateway_outage_is_backed_off_not_stormed() -> None:
    gateway = FakeGateway()
    attempts_while_down = 0
    handle = gateway.handle

    async def counting(request):  # type: ignore[no-untyped-def]
        nonlocal attempts_while_down
        if gateway.down:
            attempts_while_down += 1
        return await handle(request)

    gateway.handle = counting  # type: ignore[method-assign]
    options = make_options(count=None, duration="2.5", rate=400.0)
    sim = simulation(gateway, options, make_settings(), use_redis=False)
    await sim.prepare()
    task = asyncio.create_task(sim.run(asyncio.Event()))
    await asyncio.sleep(0.5)
    gateway.down = True
    await asyncio.sleep(1.0)
    gateway.down = False
    summary = await task
    assert sim.gate.trips >= 1
    assert summary.not_sent >= 200  # about 1 s of 400/s was skipped, not queued
    assert attempts_while_down < 20  # a few in-flight requests and the probes, no storm
    assert summary.sent + summary.not_sent == 1000
    assert summary.by_status.get("unreachable", 0) < 20
    assert any("unavailable" in note for note in summary.notes)


async def test_unreachable_gateway_at_start_is_a_clear_error() -> None:
    sim = simulation(FakeGateway(down=True), make_options(), make_settings(), use_redis=False)
    with pytest.raises(GatewayUnreachable, match="fraudctl up"):
        await sim.prepare()


async def test_no_redis_means_a_warning_not_a_failure() -> None:
    gateway = FakeGateway()
    sim = simulation(gateway, make_options(count=50), make_settings(redis_port=1))
    summary = await run(sim)
    assert summary.accepted == 50  # type: ignore[attr-defined]
    assert any("cannot reach Redis" in note for note in summary.notes)  # type: ignore[attr-defined]


def test_event_time_ends_before_now_and_inside_the_gateway_window() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    options = make_options(count=None, duration="60", rate=200.0, users=1000)
    start = event_time_start(options, now)
    assert now - timedelta(days=30) < start < now - timedelta(days=3)


async def test_generated_timestamps_stay_within_a_day_of_now() -> None:
    gateway = FakeGateway()
    options = make_options(count=3000, rate=20000.0, users=50, batch_size=100)
    summary = await run(simulation(gateway, options, make_settings(), use_redis=False))
    last = max(datetime.fromisoformat(b["timestamp"]) for b in gateway.received)
    assert last < datetime.now(UTC) + timedelta(hours=1)
    assert json.dumps(summary.to_dict())  # type: ignore[attr-defined]
