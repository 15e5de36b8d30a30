"""`fraudctl demo`: the seed README's two curls, end to end, with the alert shown.

User `user-test-123` pays 50.00 at merchant_a in New York, then 5000.00 online at
merchant_b a minute later; the second one should come back as an alert. Ids carry a
per-run suffix so a rerun is a new pair of transactions (not a duplicate), and the
timestamps are now, so the pair is never older than traffic the job has already seen.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from rich.markup import escape

from foundation.alert_stream import AsyncAlertStreamReader
from foundation.redis_client import async_client
from foundation.settings import Settings, gateway_auth_headers
from fraudctl.alerts.health import HealthProber
from fraudctl.alerts.labels import mirror_labels
from fraudctl.labels_client import LabelClient, LabelPostError
from fraudctl.simulate.labels_and_verdicts import DecisionFollower
from fraudctl.simulate.runner import GatewayUnreachable
from fraudctl.simulate.sender import GatewaySender, Outcome
from models.contracts.alert import Alert
from models.contracts.decision import DecisionRecord as Decision
from models.contracts.label import Label

SEED_USER = "user-test-123"
SEED_CARD = "4242-4242-4242-4242"
DEMO_FRAUD_PATTERN = "amount_spike"


class DemoFailed(RuntimeError):
    """The demo could not show an alert; the message says why and what to check."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_transactions(
    run_id: str, now: datetime, user_id: str = SEED_USER
) -> list[tuple[dict[str, Any], str | None]]:
    """The seed's normal and fraudulent transaction, with fresh ids and current times."""
    normal = {
        "transaction_id": f"txn_normal_001-{run_id}",
        "user_id": user_id,
        "card_number": SEED_CARD,
        "amount": 50.00,
        "timestamp": _iso(now - timedelta(minutes=1)),
        "merchant_id": "merchant_a",
        "location": "New York",
    }
    fraud = {
        "transaction_id": f"txn_fraud_002-{run_id}",
        "user_id": user_id,
        "card_number": SEED_CARD,
        "amount": 5000.00,
        "timestamp": _iso(now),
        "merchant_id": "merchant_b",
        "location": "Online",
    }
    return [(normal, None), (fraud, DEMO_FRAUD_PATTERN)]


@dataclass
class DemoResult:
    fraud_id: str
    alert: Alert | None = None
    seen_after_ms: float | None = None
    unexpected: list[Alert] = field(default_factory=list)
    decision: Decision | None = None


Say = Callable[[str], None]


async def run_demo(
    settings: Settings,
    gateway_url: str,
    say: Say,
    *,
    timeout_s: float | None = None,
    run_id: str | None = None,
    user_id: str = SEED_USER,
) -> DemoResult:
    """Send the two transactions and wait for the alert on the second; raise DemoFailed."""
    run_id = run_id or secrets.token_hex(4)
    timeout_s = timeout_s or settings.simulate.demo_alert_timeout_s
    sender = GatewaySender(
        gateway_url,
        connections=2,
        timeout_s=settings.simulate.request_timeout_s,
        auth_headers=gateway_auth_headers(settings),
    )
    cfg = settings.redis
    client = async_client(cfg, socket_connect_timeout=2)
    decisions = DecisionFollower(settings, lambda txn: txn.endswith(f"-{run_id}"))
    try:
        await _preflight(settings, sender, client, gateway_url, say)
        reader = AsyncAlertStreamReader(client, cfg.alerts_stream)
        await reader.backfill(0)
        await asyncio.to_thread(decisions.start)
        pair = demo_transactions(run_id, datetime.now(UTC), user_id)
        sent_at = 0.0
        for body, _pattern in pair:
            outcome = await sender.send_one(body)
            sent_at = time.monotonic()
            _report_send(body, outcome, say)
            if not outcome.accepted:
                raise DemoFailed(
                    f"the gateway did not accept {body['transaction_id']}: "
                    f"{outcome.status} {outcome.error} {outcome.message}".strip()
                )
        result = DemoResult(fraud_id=pair[1][0]["transaction_id"])
        say(f"[dim]waiting up to {timeout_s:g} s for the alert on {cfg.alerts_stream} ...[/]")
        await _wait_for_alert(
            reader, decisions, result, {b["transaction_id"] for b, _ in pair}, sent_at, timeout_s
        )
        await _post_truth(settings, gateway_url, client, pair, say)
        return result
    except (RedisError, OSError) as exc:
        raise DemoFailed(
            f"Redis at {cfg.host}:{cfg.port} failed ({exc}): is the stack up? `fraudctl status`"
        ) from None
    finally:
        await sender.close()
        await client.aclose()
        await asyncio.to_thread(decisions.close)


async def _post_truth(
    settings: Settings,
    gateway_url: str,
    client: aioredis.Redis,
    pair: list[tuple[dict[str, Any], str | None]],
    say: Say,
) -> None:
    """The demo's ground truth, posted as labels like every other (and shown in the console)."""
    at_ms = time.time_ns() // 1_000_000
    labels = [
        Label(
            transaction_id=body["transaction_id"],
            label="legit" if pattern is None else "fraud",
            source="simulator",
            labelled_at=at_ms,
            user_id=body["user_id"],
            merchant_id=body["merchant_id"],
        )
        for body, pattern in pair
    ]
    poster = LabelClient(
        gateway_url,
        timeout_s=settings.simulate.request_timeout_s,
        auth_headers=gateway_auth_headers(settings),
    )
    try:
        await asyncio.to_thread(poster.post, labels)
    except LabelPostError as exc:
        say(f"[yellow]the demo's labels were not posted: {escape(exc.message)}[/]")
        return
    finally:
        await asyncio.to_thread(poster.close)
    await mirror_labels(client, settings.redis.labels_key, labels)


async def _preflight(
    settings: Settings, sender: GatewaySender, client: aioredis.Redis, url: str, say: Say
) -> None:
    answer = await sender.health()
    if not answer.reachable:
        raise GatewayUnreachable(
            f"cannot reach the gateway at {url} ({answer.detail}). Is the stack up? Start it "
            "with `fraudctl up`, or point --gateway at a running gateway."
        )
    if not answer.ok:
        say(f"[yellow]⚠ the gateway says it is not ready: {escape(answer.detail)}[/]")
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise DemoFailed(
            f"cannot reach Redis at {settings.redis.host}:{settings.redis.port} ({exc}), where "
            "alerts arrive: is the stack up? `fraudctl status`"
        ) from None
    prober = HealthProber(settings, timeout_s=2.0)
    try:
        flink = await asyncio.to_thread(prober.probe_flink)
    finally:
        prober.close()
    if not flink.ok:
        say(
            f"[yellow]⚠ the scoring job '{settings.flink.job_name}' is not running "
            f"({escape(flink.detail)}): the alert will not come until it runs. "
            "See `fraudctl status`.[/]"
        )


def _report_send(body: dict[str, Any], outcome: Outcome, say: Say) -> None:
    what = escape(
        f"{body['transaction_id']}: {body['amount']:,.2f} at {body['merchant_id']}, "
        f"{body['location']} ({body['timestamp']})"
    )
    if outcome.accepted:
        say(f"[green]→ sent[/] {what} [green]202 accepted[/]")
    else:
        say(
            f"[red]→ refused[/] {what} [red]{outcome.status} {escape(outcome.error)}[/] "
            f"{escape(outcome.message)}"
        )


async def _wait_for_alert(
    reader: AsyncAlertStreamReader,
    decisions: DecisionFollower,
    result: DemoResult,
    ours: set[str],
    sent_at: float,
    timeout_s: float,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in await reader.read(block_ms=200, count=100):
            txn = entry.alert.transaction_id
            if txn == result.fraud_id:
                result.alert = entry.alert
                result.seen_after_ms = (time.monotonic() - sent_at) * 1000
                return
            if txn in ours:
                result.unexpected.append(entry.alert)
        for decision in decisions.drain():
            if decision.transaction_id == result.fraud_id:
                result.decision = decision
        if result.decision is not None and not result.decision.flagged:
            raise DemoFailed(_not_flagged(result.decision))
    if result.decision is not None and result.decision.flagged:
        raise DemoFailed(
            f"the job flagged {result.fraud_id} but no alert reached the stream within "
            f"{timeout_s:g} s: check the job's Redis sink (`fraudctl logs`)"
        )
    raise DemoFailed(
        f"no alert for {result.fraud_id} within {timeout_s:g} s, and no decision for it in "
        "the decision log: is the scoring job running and reading `transactions`? "
        "See `fraudctl status` and `fraudctl logs`."
    )


def _not_flagged(decision: Decision) -> str:
    score = "" if decision.score is None else f" (score {decision.score:.3f}"
    if score and decision.threshold is not None:
        score += f", threshold {decision.threshold:.3f}"
    score += ")" if score else ""
    return (
        f"the job scored {decision.transaction_id} and did not flag it{score}: the model "
        "does not see the seed's 5000.00 after one 50.00 as fraud (check the model version "
        "the job loaded; this user's history from earlier demos counts too: try "
        "`fraudctl demo --user user-demo-2`)"
    )
