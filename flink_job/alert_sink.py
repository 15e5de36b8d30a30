"""Alerts into the Redis stream, at most once per transaction, never lost while Redis is down.

One Lua script does "seen this transaction? else XADD (capped) and remember it" atomically,
so a replay after a failure (the job restarts from its last checkpoint and re-scores what
came after it) finds the marker and adds nothing. While Redis is unreachable the writer
retries with capped exponential backoff and never raises: the operator stalls, Flink
backpressures up to the Kafka source, and scoring resumes where it stopped once Redis is
back. Checkpoints may time out meanwhile; the job tolerates that (see connectors.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from flink_job.records import now_ms, stamp_detected

log = logging.getLogger("flink_job.alerts")

# KEYS[1] = marker key, KEYS[2] = stream; ARGV = marker ttl s, stream maxlen, alert json.
ADD_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'alert', ARGV[3])
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id
"""

RETRYABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


@dataclass(frozen=True)
class AlertTarget:
    """Where alerts go; plain data so it pickles into the job graph."""

    host: str
    port: int
    stream: str
    maxlen: int
    marker_ttl_s: int

    def marker_key(self, transaction_id: str) -> str:
        return f"{self.stream}:seen:{transaction_id}"


class RedisAlertWriter:
    """Writes alert dicts to the stream; `write` returns the new entry id or None (seen)."""

    def __init__(
        self,
        target: AlertTarget,
        *,
        clock: Callable[[], int] = now_ms,
        sleep: Callable[[float], None] = time.sleep,
        first_backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
    ) -> None:
        self.target = target
        self.clock = clock
        self.sleep = sleep
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.client = redis.Redis(
            host=target.host,
            port=target.port,
            socket_timeout=2.0,
            socket_connect_timeout=1.0,
            health_check_interval=0,
        )
        self.script = self.client.register_script(ADD_ONCE)
        self.written = 0
        self.skipped = 0
        self.retries = 0

    def write(self, alert: dict[str, Any]) -> str | None:
        """Add the alert unless its transaction was alerted before; retries until it is done."""
        key = self.target.marker_key(str(alert["transaction_id"]))
        backoff = self.first_backoff_s
        down_since: float | None = None
        while True:
            try:
                result = self.script(
                    keys=[key, self.target.stream],
                    args=[
                        self.target.marker_ttl_s,
                        self.target.maxlen,
                        stamp_detected(alert, self.clock()),
                    ],
                )
            except RETRYABLE as error:
                self.retries += 1
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("redis unavailable (%s); retrying until it is back", error)
                self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if down_since is not None:
                log.warning("redis is back after %.1f s", time.monotonic() - down_since)
            if result is None:
                self.skipped += 1
                return None
            self.written += 1
            return result.decode() if isinstance(result, bytes) else str(result)

    def close(self) -> None:
        self.client.close()
