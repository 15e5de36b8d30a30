"""One simulate run: generate, send on schedule, post labels, follow alerts, summarise.

The generator is the model engineer's `TrafficGenerator` (same users, habits and fraud
patterns as training, with this run's seed). Each transaction id gets a per-run suffix,
so reruns with the same seed are new transactions, and so this run's alerts and
decisions can be told apart from everyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from foundation.redis_client import async_client
from foundation.settings import Settings, gateway_auth_headers
from fraudctl.alerts.labels import mirror_labels
from fraudctl.labels_client import LabelClient
from fraudctl.simulate.labelling import LabelScheduler
from fraudctl.simulate.labels_and_verdicts import AlertFollower, DecisionFollower
from fraudctl.simulate.options import SimulateOptions
from fraudctl.simulate.quality import RunQuality
from fraudctl.simulate.schedule import (
    Clock,
    DriveResult,
    DriveState,
    MonotonicClock,
    Schedule,
    drive,
)
from fraudctl.simulate.sender import BackoffGate, GatewaySender, Outcome
from fraudctl.simulate.snapshot import Snapshot
from fraudctl.simulate.stats import (
    CANCELLED,
    CONNECTION_LOST,
    LatencyHistogram,
    Outcomes,
    RecentLatency,
)
from fraudctl.simulate.summary import Summary, build_summary
from fraudctl.simulate.timeline import event_time_start
from models.contracts.label import Label
from models.contracts.timestamps import epoch_ms, parse_timestamp
from models.generator import TrafficGenerator

log = logging.getLogger(__name__)
_CANCELLED = "still unanswered when the run ended (the gateway may or may not have it)"
STALL_S = 5.0  # stop waiting for the job when no decision arrived for this long


class GatewayUnreachable(RuntimeError):
    """The gateway cannot be reached at all when the run starts."""


class Simulation:
    """Runs one simulate session; create it, `await prepare()`, then `await run(stop)`."""

    def __init__(
        self,
        options: SimulateOptions,
        settings: Settings,
        *,
        sender: GatewaySender | None = None,
        clock: Clock | None = None,
        redis_client: aioredis.Redis | None = None,
        use_redis: bool = True,
        use_kafka: bool = True,
        run_id: str | None = None,
        label_client: LabelClient | None = None,
    ) -> None:
        self.options = options
        self.settings = settings
        sim = settings.simulate
        self.sender = sender or GatewaySender(
            options.gateway_url,
            connections=sim.connections,
            timeout_s=sim.request_timeout_s,
            auth_headers=gateway_auth_headers(settings),
        )
        self.clock = clock or MonotonicClock()
        self.run_id = run_id or secrets.token_hex(4)
        self._suffix = f"-{self.run_id}"
        self.gate = BackoffGate(self.sender, max_s=sim.backoff_max_s)
        self.quality = RunQuality()
        self.outcomes = Outcomes()
        self.latency = LatencyHistogram()
        self.recent = RecentLatency()
        self.alert_latency = LatencyHistogram()
        self.state = DriveState()
        self.phase = "preparing"
        self.warnings: list[str] = []
        self.generator: TrafficGenerator | None = None
        self._use_redis = use_redis
        self._redis = redis_client
        self._label_client = label_client or LabelClient(
            options.gateway_url,
            timeout_s=sim.request_timeout_s,
            auth_headers=gateway_auth_headers(settings),
        )
        self._labels = LabelScheduler(
            self._label_client.post,
            clock=self.clock,
            labelled_at=self._simulated_now_ms,
            delay_s=options.label_delay_s,
            batch=min(sim.label_batch, settings.gateway.max_batch),
            on_posted=self._mirror,
        )
        self._alerts: AlertFollower | None = None
        self._decisions = DecisionFollower(settings, self.belongs) if use_kafka else None
        self._slots = asyncio.Semaphore(sim.max_in_flight)
        self.waits_for_room = 0  # dispatches that found max_in_flight requests unanswered
        self._tasks: set[asyncio.Task[None]] = set()
        self._event_first: str | None = None
        self._event_last: str | None = None
        self._drive: DriveResult | None = None

    def belongs(self, transaction_id: str) -> bool:
        return transaction_id.endswith(self._suffix)

    async def prepare(self) -> None:
        """Check the gateway, build the population, open the label store and the feeds."""
        answer = await self.sender.health()
        if not answer.reachable:
            await self.sender.close()
            raise GatewayUnreachable(
                f"cannot reach the gateway at {self.options.gateway_url} ({answer.detail}). "
                "Is the stack up? Start it with `fraudctl up`, or point --gateway at a "
                "running gateway."
            )
        if not answer.ok:
            self.warnings.append(f"gateway says it is not ready ({answer.detail}); sending anyway")
        opts = self.options
        start = event_time_start(opts)
        self.generator = await asyncio.to_thread(
            TrafficGenerator, opts.seed, opts.users, opts.fraud_ratio, opts.patterns, start=start
        )
        await self._open_redis()
        if self._decisions is not None:
            await asyncio.to_thread(self._decisions.start)
            if not self._decisions.available:
                self.warnings.append(self._decisions.error)

    async def _open_redis(self) -> None:
        if not self._use_redis:
            self.warnings.append("alerts not followed: no Redis")
            return
        cfg = self.settings.redis
        if self._redis is None:
            self._redis = async_client(cfg, socket_connect_timeout=2, socket_timeout=10)
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self.warnings.append(
                f"cannot reach Redis at {cfg.host}:{cfg.port} ({exc}): alerts are not "
                "followed and precision/recall are unavailable"
            )
            await self._redis.aclose()
            self._redis = None
            return
        self._alerts = AlertFollower(
            self._redis, cfg.alerts_stream, self._on_alert, belongs=self.belongs
        )
        await self._alerts.start()

    def _simulated_now_ms(self) -> int:
        """The run's simulated clock: the event time of the newest transaction sent."""
        if self._event_last is None:
            return time.time_ns() // 1_000_000
        return epoch_ms(parse_timestamp(self._event_last))

    async def _mirror(self, labels: list[Label]) -> None:
        """Show the labels of this run's alerted transactions in the console (bounded)."""
        if self._redis is None:
            return
        alerted = [label for label in labels if label.transaction_id in self.quality.alerted]
        if not alerted:
            return
        try:
            await mirror_labels(self._redis, self.settings.redis.labels_key, alerted)
        except (RedisError, OSError) as exc:
            log.warning("labels posted but not mirrored to Redis: %s", exc)

    def _on_alert(self, transaction_id: str, latency_ms: int | None) -> None:
        self.quality.alert(transaction_id)
        if latency_ms is not None:
            self.alert_latency.add(float(latency_ms))

    async def _dispatch(self, n: int, due: float) -> None:
        assert self.generator is not None
        items = self.generator.next_batch(n)
        for body, pattern in items:
            body["transaction_id"] = f"{body['transaction_id']}{self._suffix}"
            self.quality.sent(body["transaction_id"], pattern)
        if self._event_first is None:
            self._event_first = items[0][0]["timestamp"]
        self._event_last = items[-1][0]["timestamp"]
        if self._slots.locked():
            self.waits_for_room += 1
        await self._slots.acquire()
        task = asyncio.create_task(self._send(items, due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, items: list[tuple[dict[str, Any], str | None]], due: float) -> None:
        try:
            try:
                if self.options.batch_size == 1:
                    outcomes = [await self.sender.send_one(items[0][0])]
                else:
                    outcomes = await self.sender.send_batch([body for body, _ in items])
            except asyncio.CancelledError:  # abandoned at the end: the outcome is unknown
                self._record(items, [Outcome(CANCELLED, "cancelled", _CANCELLED)] * len(items))
                raise
            except Exception as exc:  # a bug must show in the counts, not vanish in a task
                log.exception("sending failed")
                outcomes = [Outcome(CONNECTION_LOST, "simulator_error", repr(exc))] * len(items)
            took_ms = (self.clock.now() - due) * 1000
            self.latency.add(took_ms)
            self.recent.add(took_ms)
            self._record(items, outcomes)
        finally:
            self._slots.release()

    def _record(
        self, items: list[tuple[dict[str, Any], str | None]], outcomes: list[Outcome]
    ) -> None:
        for (body, pattern), outcome in zip(items, outcomes, strict=True):
            self.outcomes.add(outcome.status, outcome.error, outcome.message)
            txn = body["transaction_id"]
            if outcome.accepted:
                self._labels.add(txn, pattern is not None, body["user_id"], body["merchant_id"])
            else:
                self.quality.withdraw(txn, pattern)
        self.gate.observe(outcomes[0])

    async def run(self, stop: asyncio.Event, abort: asyncio.Event | None = None) -> Summary:
        """Send until the schedule ends or `stop` is set; `abort` skips the waiting at the end."""
        abort = abort or asyncio.Event()
        feeds_stop = asyncio.Event()
        background = [asyncio.create_task(self._pump_decisions(feeds_stop))]
        labels_stop = asyncio.Event()
        background.append(asyncio.create_task(self._labels.run(labels_stop)))
        if self._alerts is not None:
            background.append(asyncio.create_task(self._alerts.run(feeds_stop)))
        opts = self.options
        schedule = Schedule(opts.rate, opts.batch_size, opts.duration_s, opts.count)
        try:
            self.phase = "sending"
            self._drive = await drive(
                schedule,
                self._dispatch,
                clock=self.clock,
                stop=stop,
                gate=self.gate,
                state=self.state,
            )
            self.phase = "finishing requests"
            await self._finish_requests(abort)
            await self.gate.close()
            self.phase = "waiting for the job"
            await self._wait_for_pipeline(abort)
            self.phase = "posting labels"
            labels_stop.set()  # the periodic poster stops; finish posts the rest
            await self._labels.finish(0.0 if abort.is_set() else self._label_flush_s)
        finally:
            feeds_stop.set()
            labels_stop.set()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*background, *self._tasks, return_exceptions=True)
            await self._close()
        self.phase = "done"
        return self.summary()

    async def _finish_requests(self, abort: asyncio.Event) -> None:
        if not self._tasks:
            return
        drained = asyncio.ensure_future(asyncio.gather(*self._tasks, return_exceptions=True))
        aborted = asyncio.ensure_future(abort.wait())
        either: set[asyncio.Future[Any]] = {drained, aborted}
        limit = self.settings.simulate.request_timeout_s + 1
        await asyncio.wait(either, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        aborted.cancel()
        if self._tasks:
            self.warnings.append(f"{len(self._tasks)} requests were still in flight at the end")

    async def _pump_decisions(self, stop: asyncio.Event) -> None:
        """Move decisions from the Kafka thread into the quality join."""
        while not stop.is_set():
            self._take_decisions()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        self._take_decisions()

    def _take_decisions(self) -> None:
        if self._decisions is not None:
            for decision in self._decisions.drain():
                self.quality.decision(decision.transaction_id, decision.flagged)

    async def _wait_for_pipeline(self, abort: asyncio.Event) -> None:
        """Give the job time to score the tail of the run and the alerts to arrive."""
        if self._alerts is None or self.outcomes.accepted == 0:
            return
        limit = self.settings.simulate.drain_timeout_s
        if self._decisions is None or not self._decisions.available:
            await _wait(abort, min(2.0, limit))  # nothing tells when the job is done
            return
        started = last_progress = self.clock.now()
        seen = self.quality.decisions
        while not abort.is_set():
            now = self.clock.now()
            if (
                self.quality.decisions >= self.outcomes.accepted
                and self.quality.alerts_pending == 0
            ):
                return
            if self.quality.decisions != seen:
                seen, last_progress = self.quality.decisions, now
            if now - started >= limit or now - last_progress >= STALL_S:
                break
            await _wait(abort, 0.1)
        missing = self.outcomes.accepted - self.quality.decisions
        if missing > 0:
            self.warnings.append(
                f"the scoring job had not scored {missing} of this run's {self.outcomes.accepted} "
                "accepted transactions when the run ended (is the job running? see "
                "`fraudctl status`); frauds among them count as missed"
            )

    @property
    def _label_flush_s(self) -> float:
        sim = self.settings.simulate
        return sim.drain_timeout_s + sim.request_timeout_s

    async def _close(self) -> None:
        await self.sender.close()
        await asyncio.to_thread(self._label_client.close)
        if self._decisions is not None:
            await asyncio.to_thread(self._decisions.close)
        if self._redis is not None:
            await self._redis.aclose()

    def snapshot(self) -> Snapshot:
        now = self.clock.now()
        started = self.state.started_at
        elapsed = 0.0 if started is None else now - started
        if self._drive is not None:
            elapsed = self._drive.elapsed_s
        next_due = self.state.next_due
        lag = max(0.0, now - next_due) if next_due is not None and self.phase == "sending" else 0.0
        warnings = list(self.warnings)
        for source in (self._labels, self._alerts):
            if source is not None and source.error:
                warnings.append(source.error)
        return Snapshot(
            phase=self.phase,
            elapsed_s=elapsed,
            planned=self.options.planned,
            sent=self.state.sent,
            skipped=self.state.skipped,
            in_flight=len(self._tasks),
            outcomes=self.outcomes,
            latency_now=tuple(self.recent.percentiles(50, 99)),  # type: ignore[arg-type]
            latency_all=(self.latency.percentile(50), self.latency.percentile(99)),
            lag_s=lag,
            alerts_seen=self.quality.alerts_seen,
            decisions=self.quality.decisions if self._decision_log_on else None,
            frauds_sent=self.quality.frauds_sent,
            quality=self.quality.live(),
            gate_reason=self.gate.reason if self.gate.is_open else "",
            gate_retry_in_s=self.gate.retry_in_s if self.gate.is_open else None,
            gateway_saturated=len(self._tasks) >= self.settings.simulate.max_in_flight,
            labels_written=self._labels.posted,
            warnings=tuple(warnings),
            event_time=self._event_last,
        )

    @property
    def _decision_log_on(self) -> bool:
        return self._decisions is not None and self._decisions.available

    def summary(self) -> Summary:
        assert self._drive is not None, "summary() needs a finished run()"
        notes = list(self.warnings)
        if self.gate.trips:
            notes.append(
                f"the gateway was unavailable {self.gate.trips} time(s); "
                f"{self._drive.skipped} transactions were not sent meanwhile"
            )
        if self._labels.error:
            notes.append(self._labels.error)
        if self._drive.behind and not self.waits_for_room:
            notes.append(
                "this process could not keep up with the requested rate (CPU-bound): try "
                "--batch-size 50 or a lower --rate"
            )
        if self.waits_for_room:
            notes.append(
                f"sending waited {self.waits_for_room} times because "
                f"{self.settings.simulate.max_in_flight} requests were unanswered: the gateway "
                "is slower than the requested rate (see latency; --batch-size 50 sends the "
                "same traffic in far fewer requests)"
            )
        return build_summary(
            run_id=self.run_id,
            seed=self.options.seed,
            gateway=self.options.gateway_url,
            batch_size=self.options.batch_size,
            requested_rate=self.options.rate,
            drive=self._drive,
            outcomes=self.outcomes,
            latency=self.latency,
            alert_latency=self.alert_latency,
            quality=self.quality,
            scored=self.quality.decisions if self._decision_log_on else None,
            labels_key=self.settings.kafka.labels_topic,
            labels_recorded=self._labels.posted,
            event_time=(self._event_first, self._event_last),
            notes=notes,
        )


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
