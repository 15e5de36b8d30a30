"""Wall-clock milliseconds since the epoch: the unit of every `*_at` field in the pipeline."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Now, in whole milliseconds since the epoch (integer arithmetic, no float rounding)."""
    return time.time_ns() // 1_000_000
