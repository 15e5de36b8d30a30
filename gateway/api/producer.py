"""The gateway's Kafka producer: a 202 only for what the broker confirmed.

confluent-kafka's `produce()` only queues a record; the broker's answer arrives later as a
delivery report, served by `poll()`. The reports are served on the event loop itself by a
non-blocking `poll(0)` that runs every `pump_interval_s` while records are in flight (and
every `idle_interval_s` otherwise, for error reports). Awaiting a delivery thus never
blocks the loop, costs no thread per request, and—unlike a poll thread—does not make
every delivery callback wait for the GIL held by the busy loop thread: with a poll thread,
a 500-record batch paid up to one GIL switch interval (5 ms) per record. The producer is
idempotent with acks=all, so a confirmed record is on every in-sync replica exactly once.

Every wait is bounded by `timeout_s` (librdkafka's `message.timeout.ms` is set to the same
value): a full local queue or a broker that does not answer becomes a `ProduceFailure`
with a reason, which the API turns into a 503. When the broker is known to be down
(librdkafka reported all broker connections lost) requests fail at once instead of each
waiting out the timeout; a metadata probe (in a worker thread, it blocks) runs every
`probe_interval_s` and lifts that state as soon as the broker answers: no restart needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

log = logging.getLogger("gateway.kafka")

_UNSETTLED: Final[Any] = object()
_QUEUE_RETRY_S: Final = 0.005
_WAIT_GRACE_S: Final = 0.25


@dataclass(frozen=True, slots=True)
class ProduceFailure:
    """Why a record was not stored; `reason` is a stable code, `message` is for humans."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class BrokerCheck:
    reachable: bool
    topic_exists: bool
    partitions: int
    message: str


class TransactionProducer(Protocol):
    """What the API needs from a producer; the unit tests provide a recording fake."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def topic(self) -> str: ...

    @property
    def broker_up(self) -> bool | None: ...

    def queued(self) -> int: ...

    async def start(self) -> None: ...

    async def produce_many(
        self, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]: ...

    async def check_broker(self, timeout_s: float) -> BrokerCheck: ...

    async def close(self) -> int: ...


class _Pending:
    """The records of one request, settled by delivery reports (all on the event loop)."""

    __slots__ = ("future", "outstanding", "results")

    def __init__(self, future: asyncio.Future[None], size: int) -> None:
        self.future = future
        self.outstanding = size
        self.results: list[Any] = [_UNSETTLED] * size

    def settle(self, index: int, failure: ProduceFailure | None) -> None:
        if self.results[index] is not _UNSETTLED:
            return
        self.results[index] = failure
        self.outstanding -= 1
        if self.outstanding == 0 and not self.future.done():
            self.future.set_result(None)

    def expire(self) -> None:
        """Stop waiting: what is unsettled now counts as not confirmed (see finish)."""
        if not self.future.done():
            self.future.set_result(None)

    def finish(self, unsettled: ProduceFailure) -> list[ProduceFailure | None]:
        """Freeze the outcome; anything still in flight counts as not confirmed."""
        self.results = [unsettled if r is _UNSETTLED else r for r in self.results]
        self.outstanding = 0
        return list(self.results)


ProducerFactory = Callable[[dict[str, Any]], Any]


class KafkaTransactionProducer:
    """confluent-kafka producer with awaitable, bounded deliveries; see the module doc."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        timeout_s: float,
        linger_ms: int = 5,
        probe_interval_s: float = 1.0,
        pump_interval_s: float = 0.001,
        idle_interval_s: float = 0.1,
        producer_factory: ProducerFactory = Producer,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._probe_interval_s = probe_interval_s
        self._pump_interval_s = pump_interval_s
        self._idle_interval_s = idle_interval_s
        self._factory = producer_factory
        self._extra_config = dict(extra_config or {})
        self._producer: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._pump_busy = False
        self._next_probe = 0.0
        self._probing = False
        self._broker_up: bool | None = None
        self._fatal: str | None = None
        self._closing = False

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def broker_up(self) -> bool | None:
        """True/False once known; None before the first probe."""
        return self._broker_up

    def queued(self) -> int:
        return len(self._producer) if self._producer is not None else 0

    def config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self._bootstrap,
            "client.id": "fraudctl-gateway",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": self._linger_ms,
            "message.timeout.ms": max(1, int(self._timeout_s * 1000)),
            "socket.connection.setup.timeout.ms": max(1000, int(self._timeout_s * 1000)),
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "log.connection.close": False,
            "error_cb": self._on_error,
            "logger": log,
            **self._extra_config,
        }

    async def start(self) -> None:
        self._producer = self._factory(self.config())
        self._schedule_pump(busy=False)

    async def produce(self, key: bytes, value: bytes) -> ProduceFailure | None:
        return (await self.produce_many([(key, value)]))[0]

    async def produce_many(
        self, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]:
        """Queue the records, await the broker's confirmation; one outcome per record."""
        return await self.produce_to(self._topic, records)

    async def produce_to(
        self, topic: str, records: Sequence[tuple[bytes, bytes]]
    ) -> list[ProduceFailure | None]:
        """`produce_many` to another topic of the same broker (the labels), same guarantees."""
        if not records:
            return []
        refusal = self._refusal()
        if refusal is not None:
            return [refusal] * len(records)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        pending = _Pending(loop.create_future(), len(records))
        producer = self._producer
        if not self._pump_busy:
            self._schedule_pump(busy=True)  # also drains the queue if it fills up below
        report = self._on_delivery
        for index, (key, value) in enumerate(records):
            try:  # the common case, inline: the queue has room
                producer.produce(topic, value, key, on_delivery=partial(report, pending, index))
                continue
            except BufferError:
                failure = await self._enqueue(
                    producer, topic, pending, index, (key, value), deadline
                )
            except KafkaException as exc:
                failure = self._failure_from(exc.args[0], topic)
            if failure is not None:
                pending.settle(index, failure)
        if not pending.future.done():
            # A timer rather than wait_for(): no extra task per request on the hot path.
            wait_s = max(0.0, deadline - loop.time()) + _WAIT_GRACE_S
            expiry = loop.call_later(wait_s, pending.expire)
            try:
                await pending.future
            finally:
                expiry.cancel()
        return pending.finish(self._not_confirmed())

    async def _enqueue(
        self,
        producer: Any,
        topic: str,
        pending: _Pending,
        index: int,
        record: tuple[bytes, bytes],
        deadline: float,
    ) -> ProduceFailure | None:
        """Hand one record to librdkafka, waiting (bounded) while its local queue is full."""
        loop = asyncio.get_running_loop()
        on_delivery = partial(self._on_delivery, pending, index)
        key, value = record
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                return None
            except BufferError:
                if loop.time() >= deadline:
                    return ProduceFailure(
                        "queue_full",
                        f"the gateway's Kafka queue stayed full for {self._timeout_s:g}s "
                        f"({len(producer)} records waiting for the broker): retry later",
                    )
                await asyncio.sleep(_QUEUE_RETRY_S)
            except KafkaException as exc:
                return self._failure_from(exc.args[0], topic)

    def _refusal(self) -> ProduceFailure | None:
        if self._closing or self._producer is None:
            return ProduceFailure(
                "shutting_down", "the gateway is shutting down: retry against a running one"
            )
        if self._broker_up is False:
            return ProduceFailure(
                "broker_unavailable",
                f"the Kafka broker at {self._bootstrap} is unreachable; nothing was accepted: "
                "retry in a few seconds",
            )
        return None

    def _not_confirmed(self) -> ProduceFailure:
        return ProduceFailure(
            "broker_timeout",
            f"the Kafka broker did not confirm the write within {self._timeout_s:g}s; the "
            "transaction was not accepted: retry later",
        )

    def _failure_from(self, err: KafkaError, topic: str | None = None) -> ProduceFailure:
        code = err.code()
        if code == KafkaError._MSG_TIMED_OUT:
            return self._not_confirmed()
        if code in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            return ProduceFailure(
                "broker_unavailable",
                f"the Kafka broker at {self._bootstrap} is unreachable: retry in a few seconds",
            )
        if code in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART):
            return ProduceFailure(
                "topic_missing",
                f"topic {topic or self._topic!r} does not exist on the broker: create it "
                "(`fraudctl up` does) and retry",
            )
        if code == KafkaError._QUEUE_FULL:
            return ProduceFailure("queue_full", "the gateway's Kafka queue is full: retry later")
        return ProduceFailure("broker_error", f"Kafka refused the write: {err.str()}")

    # -- delivery pump (event loop) ----------------------------------------------------

    def _schedule_pump(self, *, busy: bool) -> None:
        """(Re)arm the pump: fast while records are in flight, slow when idle."""
        if self._timer is not None:
            self._timer.cancel()
        self._pump_busy = busy
        interval = self._pump_interval_s if busy else self._idle_interval_s
        self._timer = asyncio.get_running_loop().call_later(interval, self._pump)

    def _pump(self) -> None:
        """Serve ready delivery and error reports without blocking, then re-arm."""
        self._timer = None
        if self._closing:
            return
        try:
            self._producer.poll(0)
            if self._fatal is not None:
                self._replace_producer()
            if self._broker_up is not True:
                self._maybe_probe()
        except Exception:  # a dead pump would turn every request into a 503
            log.exception("serving Kafka delivery reports failed; will retry")
        self._schedule_pump(busy=len(self._producer) > 0)

    def _on_delivery(
        self, pending: _Pending, index: int, err: KafkaError | None, _msg: Any
    ) -> None:
        if err is None:
            if self._broker_up is not True:
                self._mark_broker(up=True, why="a write was confirmed")
            pending.settle(index, None)
        else:
            topic = _msg.topic() if _msg is not None else None
            pending.settle(index, self._failure_from(err, topic))

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
            log.error("Kafka producer hit a fatal error, replacing it: %s", err.str())
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._mark_broker(up=False, why=err.str())
        else:
            log.debug("Kafka client error: %s", err.str())

    def _mark_broker(self, *, up: bool, why: str) -> None:
        if self._broker_up is not up:
            if up:
                log.info("Kafka broker %s is reachable (%s)", self._bootstrap, why)
            else:
                log.warning("Kafka broker %s is unreachable (%s)", self._bootstrap, why)
        self._broker_up = up

    def _maybe_probe(self) -> None:
        """While the broker is down or unknown, ask it for metadata (in a worker thread)."""
        loop = asyncio.get_running_loop()
        if self._probing or loop.time() < self._next_probe:
            return
        self._probing = True
        self._next_probe = loop.time() + self._probe_interval_s
        timeout_s = min(1.0, self._probe_interval_s)
        probe = loop.run_in_executor(None, partial(self._producer.list_topics, timeout=timeout_s))
        probe.add_done_callback(self._probe_done)

    def _probe_done(self, probe: asyncio.Future[Any]) -> None:
        self._probing = False
        error = probe.exception()
        if error is None:
            self._mark_broker(up=True, why="metadata request answered")
        else:
            self._mark_broker(up=False, why=f"metadata request failed: {error}")

    def _replace_producer(self) -> None:
        """After a fatal error the handle is unusable: fail what it held and start afresh."""
        old = self._producer
        self._producer = self._factory(self.config())
        self._fatal = None
        try:
            old.purge()
            old.poll(0)
        except KafkaException as exc:
            log.debug("purging the failed producer: %s", exc)

    # -- health and shutdown -----------------------------------------------------------

    async def check_broker(self, timeout_s: float) -> BrokerCheck:
        """Ask the broker for metadata (bounded by timeout_s) and look for the topic."""
        producer = self._producer
        if producer is None:
            return BrokerCheck(False, False, 0, "the producer is not started")
        try:
            metadata = await asyncio.to_thread(producer.list_topics, None, timeout_s)
        except KafkaException as exc:
            self._mark_broker(up=False, why="health check failed")
            return BrokerCheck(
                False, False, 0, f"no metadata from {self._bootstrap} in {timeout_s:g}s: {exc}"
            )
        self._mark_broker(up=True, why="health check answered")
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            return BrokerCheck(
                True, False, 0, f"topic {self._topic!r} does not exist: `fraudctl up` creates it"
            )
        return BrokerCheck(True, True, len(topic.partitions), "")

    async def close(self) -> int:
        """Stop taking records, flush what is queued; returns how many could not be flushed."""
        if self._producer is None or self._closing:
            return 0
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while len(self._producer) > 0 and loop.time() < deadline:
            self._producer.poll(0)
            await asyncio.sleep(self._pump_interval_s)
        self._producer.poll(0)
        remaining = len(self._producer)
        if remaining:
            log.warning("%d records were not confirmed by the broker before shutdown", remaining)
        return remaining
