"""Risk learned from confirmed labels: which merchants and cards recently had fraud.

A `LabelRiskBook` remembers, per merchant and per card (and per user, for labels that
carry no card), the times at which labels *arrived* (`labelled_at`). `features()` for a
transaction at `at_ms` counts only labels with `labelled_at <= at_ms`, so a replay never
sees a verdict before it was given ("from when each label arrived, never before").

State is bounded: labels older than `WINDOW_MS` (30 days) are forgotten by `expire`, every
per-key list is capped (the oldest go first) and so is the number of remembered label ids.
The same label sequence always gives the same book (it lives in Flink broadcast state, one
copy per subtask). The book keeps no per-transaction state: a label names its merchant and
card itself (see models/contracts/label.py).

Features (`LABEL_FEATURE_NAMES` order):

* `merchant_fraud_share_{1,7,30}d`: fraud labels / (all labels + 1) at the merchant in the
  window (smoothed: one fraud label alone is 0.5, not 1);
* `merchant_fraud_log_count_{7,30}d`: ln(1 + fraud labels at the merchant);
* `merchant_log_hours_since_fraud`: ln(1 + hours since the merchant's last fraud label),
  the cap (30 days) when there is none;
* `card_fraud_log_count_{7,30}d`, `card_log_hours_since_fraud`: the same for the card
  (its fingerprint, or the user when a label names no card; the larger count wins).
"""

from __future__ import annotations

import math
import struct
import zlib
from bisect import bisect_right, insort
from datetime import datetime
from typing import Any, Protocol

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WINDOW_MS = 30 * DAY_MS
MAX_TIMES_PER_KEY = 4096  # per merchant/card and verdict; beyond it the oldest are dropped
MAX_LABEL_IDS = 200_000  # transaction ids remembered to recognise a repeated label
STATE_VERSION = 1

LABEL_FEATURE_NAMES: tuple[str, ...] = (
    "merchant_fraud_share_1d",
    "merchant_fraud_share_7d",
    "merchant_fraud_share_30d",
    "merchant_fraud_log_count_7d",
    "merchant_fraud_log_count_30d",
    "merchant_log_hours_since_fraud",
    "card_fraud_log_count_7d",
    "card_fraud_log_count_30d",
    "card_log_hours_since_fraud",
)
NO_HISTORY_LOG_HOURS = math.log1p(WINDOW_MS / HOUR_MS)
# What `features` returns for a merchant and card without any label.
NO_LABEL_FEATURES: tuple[float, ...] = (
    0.0,
    0.0,
    0.0,
    0.0,
    0.0,
    NO_HISTORY_LOG_HOURS,
    0.0,
    0.0,
    NO_HISTORY_LOG_HOURS,
)
_MERCHANT, _CARD, _USER = "m:", "c:", "u:"
_LOG = tuple(math.log1p(n) for n in range(MAX_TIMES_PER_KEY + 1))


class LabelLike(Protocol):
    """The fields of `models.contracts.label.Label` the book reads."""

    @property
    def transaction_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def labelled_at(self) -> int | datetime: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def merchant_id(self) -> str | None: ...
    @property
    def card_fingerprint(self) -> str | None: ...


class _Times:
    """Sorted arrival times of fraud and legit labels for one key."""

    __slots__ = ("fraud", "legit")

    def __init__(self) -> None:
        self.fraud: list[int] = []
        self.legit: list[int] = []

    def add(self, at_ms: int, fraud: bool) -> None:
        times = self.fraud if fraud else self.legit
        insort(times, at_ms)
        if len(times) > MAX_TIMES_PER_KEY:
            del times[0]

    def remove(self, at_ms: int, fraud: bool) -> None:
        times = self.fraud if fraud else self.legit
        index = bisect_right(times, at_ms) - 1
        if index >= 0 and times[index] == at_ms:
            del times[index]

    def expire(self, cutoff_ms: int) -> None:
        for times in (self.fraud, self.legit):
            drop = bisect_right(times, cutoff_ms)
            if drop:
                del times[:drop]


class LabelRiskBook:
    """Merchant and card risk from labels; `features` is on the job's hot path (µs)."""

    def __init__(self) -> None:
        self._keys: dict[str, _Times] = {}
        # transaction id -> (fraud, labelled_at, merchant key, card key, user key)
        self._ids: dict[str, tuple[bool, int, str, str, str]] = {}
        self.unresolved = 0

    def __len__(self) -> int:
        """Labels currently remembered."""
        return len(self._ids)

    def add(self, label: LabelLike) -> bool:
        """Remember a label; False when it names neither merchant nor card/user (unresolved).

        A repeated label for the same transaction is ignored; a changed verdict (e.g. an
        analyst's "legit" overturned by a chargeback) replaces the earlier one.
        """
        merchant = _MERCHANT + label.merchant_id if label.merchant_id else ""
        card = _CARD + label.card_fingerprint if label.card_fingerprint else ""
        user = _USER + label.user_id if label.user_id else ""
        if not (merchant or card or user):
            self.unresolved += 1
            return False
        fraud = label.label == "fraud"
        at_ms = _ms(label.labelled_at)
        previous = self._ids.get(label.transaction_id)
        if previous is not None:
            if previous[0] == fraud:
                return True
            self._forget(previous)
            del self._ids[label.transaction_id]
        entry = (fraud, at_ms, merchant, card, user)
        self._ids[label.transaction_id] = entry
        if len(self._ids) > MAX_LABEL_IDS:
            del self._ids[next(iter(self._ids))]
        if merchant:
            self._times(merchant).add(at_ms, fraud)
        if fraud:  # cards and users only need their fraud labels
            for key in (card, user):
                if key:
                    self._times(key).add(at_ms, True)
        return True

    def features(
        self, merchant_id: str, user_id: str, card_fingerprint: str, at_ms: int
    ) -> tuple[float, ...]:
        """`LABEL_FEATURE_NAMES` at `at_ms`, from labels with `labelled_at <= at_ms` only."""
        keys = self._keys
        day_ago, week_ago, month_ago = at_ms - DAY_MS, at_ms - 7 * DAY_MS, at_ms - WINDOW_MS
        merchant = keys.get(_MERCHANT + merchant_id)
        if merchant is None:
            m_share1 = m_share7 = m_share30 = m_log7 = m_log30 = 0.0
            m_hours = NO_HISTORY_LOG_HOURS
        else:
            fraud, legit = merchant.fraud, merchant.legit
            f_end = bisect_right(fraud, at_ms)
            l_end = bisect_right(legit, at_ms)
            f1 = f_end - bisect_right(fraud, day_ago, 0, f_end)
            f7 = f_end - bisect_right(fraud, week_ago, 0, f_end)
            f30 = f_end - bisect_right(fraud, month_ago, 0, f_end)
            l1 = l_end - bisect_right(legit, day_ago, 0, l_end)
            l7 = l_end - bisect_right(legit, week_ago, 0, l_end)
            l30 = l_end - bisect_right(legit, month_ago, 0, l_end)
            m_share1 = f1 / (f1 + l1 + 1.0)
            m_share7 = f7 / (f7 + l7 + 1.0)
            m_share30 = f30 / (f30 + l30 + 1.0)
            m_log7, m_log30 = _LOG[f7], _LOG[f30]
            m_hours = _log_hours(fraud, f_end, f30, at_ms)
        c7 = c30 = 0
        c_hours = NO_HISTORY_LOG_HOURS
        for key in (_CARD + card_fingerprint, _USER + user_id):
            times = keys.get(key)
            if times is None:
                continue
            fraud = times.fraud
            end = bisect_right(fraud, at_ms)
            n30 = end - bisect_right(fraud, month_ago, 0, end)
            if n30:
                c7 = max(c7, end - bisect_right(fraud, week_ago, 0, end))
                c30 = max(c30, n30)
                c_hours = min(c_hours, _log_hours(fraud, end, n30, at_ms))
        return (
            m_share1,
            m_share7,
            m_share30,
            m_log7,
            m_log30,
            m_hours,
            _LOG[c7],
            _LOG[c30],
            c_hours,
        )

    def expire(self, now_ms: int) -> None:
        """Forget labels that arrived more than `WINDOW_MS` before `now_ms`."""
        cutoff = now_ms - WINDOW_MS
        for key in list(self._keys):
            times = self._keys[key]
            times.expire(cutoff)
            if not times.fraud and not times.legit:
                del self._keys[key]
        stale = [txn for txn, entry in self._ids.items() if entry[1] <= cutoff]
        for txn in stale:
            del self._ids[txn]

    def to_state(self) -> bytes:
        """Compact bytes (zlib of packed integers) for Flink operator/broadcast state."""
        parts: list[bytes] = [struct.pack("<III", STATE_VERSION, len(self._ids), self.unresolved)]
        for txn, (fraud, at_ms, merchant, card, user) in self._ids.items():
            parts.append(struct.pack("<?q", fraud, at_ms))
            for text in (txn, merchant, card, user):
                parts.append(_pack_text(text))
        parts.append(struct.pack("<I", len(self._keys)))
        for key, times in self._keys.items():
            parts.append(_pack_text(key))
            for values in (times.fraud, times.legit):
                parts.append(struct.pack(f"<I{len(values)}q", len(values), *values))
        return zlib.compress(b"".join(parts), 1)

    @classmethod
    def from_state(cls, data: bytes) -> LabelRiskBook:
        """Rebuild from `to_state`; anything else raises ValueError."""
        try:
            raw = zlib.decompress(data)
            reader = _Reader(raw)
            version, n_ids, unresolved = reader.unpack("<III")
            if version != STATE_VERSION:
                raise ValueError(f"label-risk state version {version}, expected {STATE_VERSION}")
            book = cls()
            book.unresolved = unresolved
            for _ in range(n_ids):
                fraud, at_ms = reader.unpack("<?q")
                txn, merchant, card, user = (reader.text() for _ in range(4))
                book._ids[txn] = (bool(fraud), at_ms, merchant, card, user)
            (n_keys,) = reader.unpack("<I")
            for _ in range(n_keys):
                key = reader.text()
                times = _Times()
                for attribute in ("fraud", "legit"):
                    (count,) = reader.unpack("<I")
                    setattr(times, attribute, list(reader.unpack(f"<{count}q")))
                book._keys[key] = times
            if reader.offset != len(raw):
                raise ValueError("trailing bytes")
        except (zlib.error, struct.error, UnicodeDecodeError, ValueError) as error:
            raise ValueError(f"label-risk state is unreadable ({error}): start empty") from None
        return book

    def summary(self) -> dict[str, int]:
        """Counts for status output and tests."""
        merchants = sum(1 for key in self._keys if key.startswith(_MERCHANT))
        frauds = sum(1 for entry in self._ids.values() if entry[0])
        return {
            "labels": len(self._ids),
            "fraud_labels": frauds,
            "merchants": merchants,
            "cards_and_users": len(self._keys) - merchants,
            "unresolved": self.unresolved,
        }

    def _times(self, key: str) -> _Times:
        times = self._keys.get(key)
        if times is None:
            times = self._keys[key] = _Times()
        return times

    def _forget(self, entry: tuple[bool, int, str, str, str]) -> None:
        fraud, at_ms, merchant, card, user = entry
        if merchant and merchant in self._keys:
            self._keys[merchant].remove(at_ms, fraud)
        if fraud:
            for key in (card, user):
                if key and key in self._keys:
                    self._keys[key].remove(at_ms, True)


def _log_hours(fraud: list[int], end: int, in_window: int, at_ms: int) -> float:
    if not in_window:
        return NO_HISTORY_LOG_HOURS
    return math.log1p((at_ms - fraud[end - 1]) / HOUR_MS)


def _ms(value: int | datetime) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _pack_text(text: str) -> bytes:
    encoded = text.encode()
    return struct.pack("<H", len(encoded)) + encoded


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.offset = 0

    def unpack(self, layout: str) -> tuple[Any, ...]:
        values = struct.unpack_from(layout, self.raw, self.offset)
        self.offset += struct.calcsize(layout)
        return values

    def text(self) -> str:
        (size,) = self.unpack("<H")
        value = self.raw[self.offset : self.offset + size].decode()
        if len(value.encode()) != size:
            raise ValueError("truncated text")
        self.offset += size
        return value
