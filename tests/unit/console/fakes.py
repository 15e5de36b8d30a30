"""A fixed, in-memory console backend: deterministic data for snapshots and unit tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC

from foundation.settings import Settings
from fraudctl.alerts import (
    Alert,
    ComponentHealth,
    PipelineHealth,
    StreamEntry,
    Verdict,
    parse_alert_json,
)
from fraudctl.console.app import FraudConsole
from fraudctl.console.backend import analyst_label
from models.contracts.label import Label
from tests.fixtures.alerts import BASE_MS, make_alert

# The fixed "now" of the snapshots: a little after the newest alert.
NOW_S = (BASE_MS + 12 * 7_000 + 20_000) / 1000

HEALTHY = PipelineHealth(
    components=(
        ComponentHealth("gateway", True, "up"),
        ComponentHealth("kafka", True, "up"),
        ComponentHealth("flink", True, "RUNNING"),
        ComponentHealth("redis", True, "up"),
    ),
    ingest_rate=212.0,
    checked_at=0.0,
)


def fixed_entries(count: int = 12) -> list[StreamEntry]:
    entries = []
    for i in range(count):
        alert = make_alert(i)
        entries.append(
            StreamEntry(f"{alert['detected_at']}-0", parse_alert_json(json.dumps(alert)))
        )
    return entries


class FixedReader:
    def __init__(self, entries: list[StreamEntry]) -> None:
        self.entries = entries
        self.last_id: str | None = None

    def backfill(self, count: int) -> list[StreamEntry]:
        self.last_id = self.entries[-1].stream_id if self.entries else "0-0"
        return self.entries[-count:] if count else []

    def read(self, block_ms: int | None = 1000, count: int = 500) -> list[StreamEntry]:
        time.sleep(0.02)
        return []


class FixedBackend:
    def __init__(self, entries: list[StreamEntry] | None = None) -> None:
        self.entries = fixed_entries() if entries is None else entries
        self.labels = {"txn_00009": "confirmed_fraud", "txn_00010": "false_positive"}
        self.saved: list[tuple[str, Verdict]] = []
        self.posted: list[Label] = []

    def reader(self) -> FixedReader:
        return FixedReader(self.entries)

    def probe_health(self) -> PipelineHealth:
        return HEALTHY

    def labels_for(self, transaction_ids: Iterable[str]) -> dict[str, str]:
        return {t: self.labels[t] for t in transaction_ids if t in self.labels}

    def save_label(self, alert: Alert, verdict: Verdict) -> Label:
        self.saved.append((alert.transaction_id, verdict))
        self.posted.append(analyst_label(alert, verdict, int(NOW_S * 1000)))
        return self.posted[-1]

    def close(self) -> None:
        pass


def fixed_console(backend: FixedBackend | None = None) -> FraudConsole:
    return FraudConsole(
        Settings(),
        backend=backend or FixedBackend(),
        clock=lambda: NOW_S,
        tz=UTC,
        health_interval_s=60.0,
    )
