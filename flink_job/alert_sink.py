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

from foundation.clock import now_ms
from foundation.redis_client import sync_client
from foundation.retry import Backoff, Reconnect
from models.contracts.alert import ALERT_FIELD, alert_json

log = logging.getLogger("flink_job.alerts")

# KEYS[1] = marker key, KEYS[2] = stream; ARGV = marker ttl s, stream maxlen, alert json.
ADD_ONCE = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', '{ALERT_FIELD}', ARGV[3])
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id
"""

# A full Redis (maxmemory, noeviction) refuses writes: retried like an outage, so the alert
# waits instead of being lost; checkpoints stall, and after the tolerated number of failed
# checkpoints the job fails visibly. A wrong password (AuthenticationError, a
# ConnectionError) is retried and logged the same way until the credentials match again.
RETRYABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
)


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
        self.reconnect = Reconnect(
            RETRYABLE, Backoff(first_backoff_s, max_backoff_s), sleep=sleep, on_retry=self._down
        )
        self._down_since: float | None = None
        self.client = sync_client(
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
        result = self.reconnect(
            lambda: self.script(
                keys=[key, self.target.stream],
                args=[
                    self.target.marker_ttl_s,
                    self.target.maxlen,
                    alert_json(alert, self.clock()),
                ],
            )
        )
        if self._down_since is not None:
            log.warning("redis is back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None
        if result is None:
            self.skipped += 1
            return None
        self.written += 1
        return result.decode() if isinstance(result, bytes) else str(result)

    def _down(self, error: BaseException, _failures: int) -> None:
        self.retries += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("redis unavailable (%s); retrying until it is back", error)

    def close(self) -> None:
        self.client.close()
