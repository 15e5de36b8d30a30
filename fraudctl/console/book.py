"""The console's memory of alerts: newest first, bounded, filterable. No Textual here."""

from __future__ import annotations

import itertools
import shlex
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from foundation.alert_stream import StreamEntry
from models.contracts.alert import Alert

MINUTE_MS = 60_000


class FilterError(ValueError):
    """A filter query the console cannot understand."""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts to show: by user, by reason code, or text found in either."""

    user: str | None = None
    reason: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, query: str) -> AlertFilter:
        """`user:ID`, `reason:CODE` and bare words (matched against user and reasons)."""
        try:
            words = shlex.split(query)
        except ValueError as exc:
            raise FilterError(f"filter {query!r} is not valid: {exc}") from exc
        user = reason = None
        text: list[str] = []
        for word in words:
            key, sep, value = word.partition(":")
            if sep and not value and key.lower() in ("user", "u", "reason", "r"):
                raise FilterError(f"filter {word!r} has no value: write e.g. {key}:something")
            if sep and key.lower() in ("user", "u"):
                user = value
            elif sep and key.lower() in ("reason", "r"):
                reason = value
            else:
                text.append(word)
        return cls(user or None, reason or None, " ".join(text) or None)

    @property
    def active(self) -> bool:
        return any((self.user, self.reason, self.text))

    def matches(self, alert: Alert) -> bool:
        if self.user and alert.user_id != self.user:
            return False
        if self.reason:
            wanted = self.reason.upper()
            if not any(r.code.upper().startswith(wanted) for r in alert.reasons):
                return False
        if self.text:
            needle = self.text.lower()
            haystack = [alert.user_id, alert.transaction_id, *(str(r) for r in alert.reasons)]
            if not any(needle in item.lower() for item in haystack):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.user:
            parts.append(f"user:{self.user}")
        if self.reason:
            parts.append(f"reason:{self.reason}")
        if self.text:
            parts.append(repr(self.text))
        return " ".join(parts)


NO_FILTER = AlertFilter()


class AlertBook:
    """Keeps at most `capacity` alerts by stream id; the oldest fall off first."""

    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[str, StreamEntry] = OrderedDict()  # oldest first
        self.total_seen = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entries: Iterable[StreamEntry]) -> list[StreamEntry]:
        """Add entries (any order); returns the ones that were new."""
        added = []
        for entry in sorted(entries, key=lambda e: _id_key(e.stream_id)):
            if entry.stream_id in self._entries:
                continue
            self._entries[entry.stream_id] = entry
            added.append(entry)
            self.total_seen += 1
        if len(self._entries) > self.capacity and self._out_of_order():
            self._entries = OrderedDict(
                sorted(self._entries.items(), key=lambda kv: _id_key(kv[0]))
            )
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return added

    def _out_of_order(self) -> bool:
        keys = [_id_key(k) for k in self._entries]
        return any(a > b for a, b in itertools.pairwise(keys))

    def newest_first(self, flt: AlertFilter = NO_FILTER) -> list[StreamEntry]:
        return [e for e in reversed(self._entries.values()) if flt.matches(e.alert)]

    def get(self, stream_id: str) -> StreamEntry | None:
        return self._entries.get(stream_id)

    def per_minute(self, now_ms: int, minutes: int = 30) -> list[int]:
        """Alerts per minute for the last `minutes` minutes, oldest minute first."""
        counts = [0] * minutes
        current = now_ms // MINUTE_MS
        for entry in self._entries.values():
            at = entry.alert.detected_at or entry.stream_ms
            age = current - at // MINUTE_MS
            if 0 <= age < minutes:
                counts[minutes - 1 - age] += 1
        return counts


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
