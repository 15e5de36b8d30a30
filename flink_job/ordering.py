"""Per-user reorder buffer: score a user's transactions in event-time order, quickly.

Scoring on arrival would give a transaction that overtook an earlier one (same user, within
the out-of-orderness bound) features that miss the earlier one. Waiting for the watermark
alone would make every live alert wait the whole bound (and a quiet stream forever). So a
user's transactions wait in a small buffer, sorted by event time, and are released

* as soon as the watermark passes them: every transaction of the user within the bound
  before them has arrived, so their features equal in-order processing exactly; or
* when the user has been quiet for `hold_ms` of processing time (a live transaction waits
  ~hold_ms; a burst of shuffled records is held until it has fully arrived), but never
  longer than `max_hold_ms` after the oldest one arrived.

A transaction behind the watermark is scored at once (with whatever of its user waits
before it); one that arrives after a later one of its user was already scored cannot be
put in order any more and is scored against the current state (the feature code is
event-time aware). Both are marked `late` in the decision log.

This module is pure: the Flink function keeps a `UserSlot` in keyed state and calls these.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from flink_job.records import from_wire, to_wire
from models.features import UserState
from models.transaction import Transaction

NO_EVENT = -(2**63)

# A waiting transaction: (event ms, arrival sequence, arrival ms, transaction), sorted by
# event time, then arrival. In Flink state the transaction is kept as its wire tuple.
Waiting = tuple[int, int, int, Transaction]


@dataclass(slots=True)
class Released:
    txn: Transaction
    late: bool


@dataclass(slots=True)
class UserSlot:
    """Everything kept per user: the feature state and the transactions waiting to be scored."""

    features: UserState | None = None
    pending: list[Waiting] = field(default_factory=list)
    sequence: int = 0
    last_arrival_ms: int = 0
    first_pending_ms: int = 0
    last_released_event_ms: int = NO_EVENT

    def to_state(self) -> dict[str, Any]:
        """Plain data for Flink's keyed state (pickled by PyFlink): one write per change."""
        return {
            "features": self.features.to_dict() if self.features is not None else None,
            "pending": [
                (event, seq, arrival, to_wire(txn)) for event, seq, arrival, txn in self.pending
            ],
            "sequence": self.sequence,
            "last_arrival_ms": self.last_arrival_ms,
            "first_pending_ms": self.first_pending_ms,
            "last_released_event_ms": self.last_released_event_ms,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> UserSlot:
        if not data:
            return cls()
        features = data.get("features")
        try:
            state = UserState.from_dict(features) if features is not None else None
        except (ValueError, TypeError, AttributeError):
            state = None  # another feature-set version: start this user afresh
        try:
            return cls(
                features=state,
                pending=[(e, s, a, from_wire(w)) for e, s, a, w in data.get("pending", [])],
                sequence=int(data.get("sequence", 0)),
                last_arrival_ms=int(data.get("last_arrival_ms", 0)),
                first_pending_ms=int(data.get("first_pending_ms", 0)),
                last_released_event_ms=int(data.get("last_released_event_ms", NO_EVENT)),
            )
        except (TypeError, ValueError, IndexError, AttributeError):
            # State written by an incompatible version of this job: keep what is usable.
            return cls(features=state)


def admit(slot: UserSlot, txn: Transaction, arrival_ms: int, watermark: int) -> list[Released]:
    """Take a new transaction; return what can be scored now, in the order to score it."""
    event_ms = txn.event_time_ms
    if event_ms < slot.last_released_event_ms:
        # A later transaction of this user was scored already: no order to restore.
        return [*release_until(slot, watermark), Released(txn, late=True)]
    if not slot.pending:
        slot.first_pending_ms = arrival_ms
    slot.last_arrival_ms = arrival_ms
    slot.sequence += 1
    insort(slot.pending, (event_ms, slot.sequence, arrival_ms, txn))
    released = release_until(slot, watermark)
    if event_ms <= watermark:  # behind the watermark: in order for its user, but late
        for item in released:
            item.late = item.txn is txn
    return released


def pass_through(slot: UserSlot, txn: Transaction, watermark: int) -> list[Released]:
    """No reorder buffer (hold 0): score on arrival; late if behind the watermark or behind
    an already scored transaction of the user."""
    event_ms = txn.event_time_ms
    late = event_ms <= watermark or event_ms < slot.last_released_event_ms
    slot.last_released_event_ms = max(slot.last_released_event_ms, event_ms)
    return [*_release(slot, len(slot.pending)), Released(txn, late)]


def release_until(slot: UserSlot, watermark: int) -> list[Released]:
    """Release the waiting transactions the watermark has passed (all are exact)."""
    count = 0
    for waiting in slot.pending:
        if waiting[0] > watermark:
            break
        count += 1
    return _release(slot, count)


def release_due(slot: UserSlot, now_ms: int, hold_ms: int, max_hold_ms: int) -> list[Released]:
    """On the hold timer: release everything if the user went quiet or waited long enough."""
    if not slot.pending:
        return []
    quiet = now_ms - slot.last_arrival_ms >= hold_ms
    overdue = now_ms - slot.first_pending_ms >= max_hold_ms
    return _release(slot, len(slot.pending)) if quiet or overdue else []


def next_deadline(slot: UserSlot, hold_ms: int, max_hold_ms: int) -> int | None:
    """When the hold timer should next look at this user (None: nothing is waiting)."""
    if not slot.pending:
        return None
    return min(slot.last_arrival_ms + hold_ms, slot.first_pending_ms + max_hold_ms)


def _release(slot: UserSlot, count: int) -> list[Released]:
    if count == 0:
        return []
    ready, slot.pending = slot.pending[:count], slot.pending[count:]
    if slot.pending:
        slot.first_pending_ms = min(waiting[2] for waiting in slot.pending)
    slot.last_released_event_ms = max(slot.last_released_event_ms, ready[-1][0])
    return [Released(txn, late=False) for *_, txn in ready]
