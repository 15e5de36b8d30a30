"""Labels in the scoring operator: parsed once, kept as a LabelRiskBook in broadcast state.

Every scoring subtask receives every label (broadcast) and keeps the same book. Flink only
checkpoints what is in its broadcast state, and a Python function has no snapshot hook, so
each label is written there as it arrives — but writing the whole book per label would cost
O(book) per label. The state therefore holds the book as of the last compaction plus the
labels since ("tail"), each one small entry; every so often the tail is folded into a new
book image. Restoring = book image + the tail replayed in order, which gives the same book
(`LabelRiskBook` is deterministic for a label sequence). The function keeps the live book
in memory (`LabelMirror.book`): the per-transaction path never reads state.

Pure Python: `state` is anything with get/put/remove/items (Flink's BroadcastState, or a
dict-backed fake in tests).
"""

from __future__ import annotations

from typing import Any, Protocol

from models.contracts.label import InvalidLabel, Label
from models.label_risk import LabelRiskBook

BOOK_KEY = "book"
TAIL_PREFIX = "tail:"
TAIL_DIGITS = 10
MIN_COMPACT_TAIL = 1_024  # labels in the tail before a compaction is considered


class LabelState(Protocol):
    """The part of Flink's (read-only) broadcast state the mirror uses."""

    def get(self, key: str) -> Any: ...
    def items(self) -> Any: ...


class WritableLabelState(LabelState, Protocol):
    def put(self, key: str, value: Any) -> None: ...
    def remove(self, key: str) -> None: ...


def parse_label(raw: str) -> Label:
    """A Kafka value of `transaction-labels` to a Label; `InvalidLabel` says what is wrong."""
    return Label.from_json(raw)


def usable(label: Label) -> bool:
    """Whether the book can credit anything with it (merchant, card or user)."""
    return bool(label.merchant_id or label.card_fingerprint or label.user_id)


def unresolved_reason(label: Label) -> str | None:
    """Why a label cannot be fully attributed (None when it names user and merchant)."""
    if label.resolved:
        return None
    missing = [name for name in ("user_id", "merchant_id") if getattr(label, name) is None]
    used = (
        "its card/user risk is still counted"
        if usable(label)
        else "it changes no risk feature in the job"
    )
    return (
        f"unresolved label for transaction {label.transaction_id!r}: no "
        f"{' and no '.join(missing)}, so the job cannot credit its merchant; {used} (the label "
        "stays on its topic for training from the decision log)"
    )


def tail_key(index: int) -> str:
    return f"{TAIL_PREFIX}{index:0{TAIL_DIGITS}d}"


class LabelMirror:
    """The subtask's LabelRiskBook in memory, and how it is kept in broadcast state."""

    def __init__(self, min_compact_tail: int = MIN_COMPACT_TAIL) -> None:
        self.book: LabelRiskBook | None = None  # None until restored (first use after open)
        self.tail = 0
        self.latest_ms = 0
        self.min_compact_tail = min_compact_tail
        self.restore_problem: str | None = None

    def restore(self, state: LabelState) -> LabelRiskBook:
        """Rebuild the book from broadcast state (empty state: an empty book)."""
        entries = dict(state.items() or ())
        book = LabelRiskBook()
        image = entries.get(BOOK_KEY)
        if image is not None:
            try:
                book = LabelRiskBook.from_state(bytes(image))
            except ValueError as error:  # an incompatible image: the tail still counts
                self.restore_problem = str(error)
        tail = sorted(key for key in entries if key.startswith(TAIL_PREFIX))
        for key in tail:
            try:
                label = parse_label(entries[key])
            except InvalidLabel:
                continue  # written by a version with another contract: skip it
            book.add(label)
            self.latest_ms = max(self.latest_ms, label.labelled_at)
        self.tail = int(tail[-1][len(TAIL_PREFIX) :]) + 1 if tail else 0
        self.book = book
        return book

    def add(self, label: Label, state: WritableLabelState) -> bool:
        """Take a label into the book and the state; False when the book cannot use it."""
        book = self.book if self.book is not None else self.restore(state)
        if not book.add(label):
            return False
        state.put(tail_key(self.tail), label.to_json().decode())
        self.tail += 1
        self.latest_ms = max(self.latest_ms, label.labelled_at)
        if self.tail >= max(self.min_compact_tail, len(book) // 4):
            self.compact(state)
        return True

    def compact(self, state: WritableLabelState) -> None:
        """Fold the tail into a new book image (and forget labels past the window)."""
        assert self.book is not None
        self.book.expire(self.latest_ms)
        state.put(BOOK_KEY, self.book.to_state())
        for index in range(self.tail):
            state.remove(tail_key(index))
        self.tail = 0
