"""Score on arrival; put a user's transactions back in event-time order by correcting.

A user's transaction is scored the moment it arrives: in the common case (the user's
transactions arrive in event-time order) that decision is final and nothing waits. When a
transaction arrives after a later one of its user was already scored (it was overtaken),
the job replays the user from the state before the overtaken ones: the newcomer gets its
first decision with exactly the in-order features, and every overtaken transaction gets a
*correction* (a second decision with `correction: true` and the in-order features).

That needs the state before each recently scored transaction. Those states are kept in a
small per-user *window* in memory (`update_and_extract` never mutates a state, so keeping
one costs a reference), never in Flink state: the hot path writes no more than before. A
transaction leaves the window once the watermark passes it (nothing within the
out-of-orderness bound can overtake it any more) or when the window is full. A transaction
overtaking one that has left the window (or arriving after a restart emptied it) cannot be
put in order: it is scored against the current state (the features are event-time aware)
and marked `late`.

Pure Python: the Flink function keeps a `UserSlot` per user and calls `admit` + `settle`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from models.contracts.transaction import Transaction
from models.features import FEATURE_SET_VERSION, UserState

NO_EVENT = -(2**63)
WINDOW_CAP = 64  # scored transactions per user that a late arrival can still be put before
STATE_FORMAT = 3  # the layout of `UserSlot.to_state`
_FIELDS: tuple[str, ...] = tuple(UserState.__slots__)


@dataclass(slots=True)
class Step:
    """One decision to make: the transaction, whether it was decided before (a correction),
    whether it is late, and (set by the scorer) the state it was scored from and whether
    the state absorbed it (False: a duplicate or a failure)."""

    txn: Transaction
    late: bool = False
    correction: bool = False
    before: UserState | None = None
    absorbed: bool = False


# A scored transaction in the window: (event ms, arrival sequence, transaction, state before).
Scored = tuple[int, int, Transaction, UserState | None]


@dataclass(slots=True)
class UserSlot:
    """Per user: the feature state (in Flink state) and the correction window (memory)."""

    features: UserState | None = None
    newest_event_ms: int = NO_EVENT  # the latest event time scored for this user
    window: list[Scored] = field(default_factory=list)
    # Every scored transaction with an event time above this is in the window.
    floor_ms: int = NO_EVENT
    sequence: int = 0

    def to_state(self) -> tuple[Any, ...]:
        """Plain data for Flink's keyed state, written on every change: the feature state's
        fields as they are (a tuple, no dict building; PyFlink pickles it in C)."""
        state = self.features
        fields = None if state is None else tuple([getattr(state, n) for n in _FIELDS])
        return (STATE_FORMAT, FEATURE_SET_VERSION, _FIELDS, fields, self.newest_event_ms)

    @classmethod
    def from_state(cls, data: Any) -> UserSlot:
        """From `to_state` (an empty window: what was scored before cannot be replayed).
        Anything else (another layout or feature-set version) starts the user afresh."""
        if (
            not isinstance(data, tuple)
            or len(data) != 5
            or data[:3] != (STATE_FORMAT, FEATURE_SET_VERSION, _FIELDS)
            or data[3] is None
        ):
            return cls()
        state = UserState()
        for name, value in zip(_FIELDS, data[3], strict=True):
            setattr(state, name, value)
        newest_ms = int(data[4])
        return cls(features=state, newest_event_ms=newest_ms, floor_ms=newest_ms)


def admit(slot: UserSlot, txn: Transaction) -> tuple[UserState | None, list[Step]]:
    """A new transaction: the state to start from and the steps to score, in order.

    In order for its user: one step from the current state. Overtook scored transactions
    still in the window: the newcomer, then corrections of those, from the state before
    them. Overtook one that left the window: one late step from the current state.
    """
    event_ms = txn.event_time_ms
    if event_ms >= slot.newest_event_ms:
        return slot.features, [Step(txn)]
    if event_ms < slot.floor_ms:
        return slot.features, [Step(txn, late=True)]
    window = slot.window
    # Equal event times keep arrival order: the newcomer goes after them.
    at = bisect_right(window, event_ms, key=_event_of)
    if any(scored[2].transaction_id == txn.transaction_id for scored in window[at:]):
        return slot.features, [Step(txn)]  # a repeat: the feature code refuses it
    start = window[at][3]
    steps = [Step(txn)]
    steps.extend(Step(scored[2], correction=True) for scored in window[at:])
    del window[at:]
    return start, steps


def settle(slot: UserSlot, steps: list[Step], state: UserState | None, watermark: int) -> None:
    """After scoring `steps`: the user's new state, the window updated and trimmed."""
    slot.features = state
    window = slot.window
    for step in steps:
        if not step.absorbed:
            continue
        event_ms = step.txn.event_time_ms
        if step.late:  # absorbed out of order: no state in the window includes it now
            slot.floor_ms = slot.newest_event_ms
            window.clear()
            continue
        slot.sequence += 1
        window.append((event_ms, slot.sequence, step.txn, step.before))
        if event_ms > slot.newest_event_ms:
            slot.newest_event_ms = event_ms
    if (window and window[0][0] <= watermark) or len(window) > WINDOW_CAP:
        passed = bisect_right(window, watermark, key=_event_of)
        drop = max(passed, len(window) - WINDOW_CAP)
        if drop:
            slot.floor_ms = max(slot.floor_ms, window[drop - 1][0])
            del window[:drop]


def watermark_time(txn: Transaction, max_ahead_ms: int) -> int:
    """The time a transaction stands for in the watermark: its event time, but never more
    than `max_ahead_ms` after the gateway received it. One future-dated record then moves
    the watermark no further than live traffic would, so it cannot make later ones late.
    A warm-up transaction stands for no time at all (0): it never moves the clock."""
    if txn.is_warmup:
        return 0
    event_ms = txn.event_time_ms
    received = txn.received_at
    if received is None or received <= 0:
        return event_ms
    return min(event_ms, received + max_ahead_ms)


def _event_of(scored: Scored) -> int:
    return scored[0]
