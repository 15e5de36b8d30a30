"""`backtest --generate`: the built-in generator's labelled traffic written as a backtest
file (with a `pattern` column), so the replay path is exactly the one a real file takes.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.generator import DEFAULT_START, TrafficGenerator
from models.patterns import DAY_MS

COLUMNS = (
    "transaction_id",
    "user_id",
    "card_number",
    "merchant_id",
    "amount",
    "currency",
    "timestamp",
    "location",
    "latitude",
    "longitude",
    "label",
    "pattern",
)


def generation_start(days: float, now: datetime | None = None) -> datetime:
    """The usual fixed start, moved back when a long run would reach the gateway's
    future limit (timestamps more than a day ahead of now are refused)."""
    latest = (now or datetime.now(UTC)) - timedelta(days=days + 1)
    return min(DEFAULT_START, latest.replace(hour=0, minute=0, second=0, microsecond=0))


def write_generated(
    path: Path,
    *,
    days: float,
    users: int,
    seed: int = 42,
    fraud_ratio: float = 0.02,
    start: datetime | None = None,
) -> int:
    """Write `days` of traffic from `users` cardholders; returns the number of rows."""
    if days <= 0:
        raise ValueError(f"--days must be positive, got {days:g}")
    generator = TrafficGenerator(seed, users, fraud_ratio, start=start or generation_start(days))
    end_ms = generator.start_ms + int(days * DAY_MS)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for body, pattern in generator:
            if generator.now_ms >= end_ms:
                break
            writer.writerow(
                [
                    body["transaction_id"],
                    body["user_id"],
                    body["card_number"],
                    body["merchant_id"],
                    body["amount"],
                    body.get("currency", "USD"),
                    body["timestamp"],
                    body["location"],
                    body.get("latitude", ""),
                    body.get("longitude", ""),
                    "fraud" if pattern else "legit",
                    pattern or "",
                ]
            )
            count += 1
    return count
