from __future__ import annotations

import pytest

from fraudctl.alerts import StreamEntry, parse_alert_json
from fraudctl.console.book import AlertBook, AlertFilter, FilterError
from tests.fixtures.alerts import BASE_MS, make_alert


def entry(i: int, ms: int | None = None, **overrides: object) -> StreamEntry:
    import json

    at = ms if ms is not None else BASE_MS + i * 1000
    alert = parse_alert_json(json.dumps(make_alert(i, detected_at=at, **overrides)))
    return StreamEntry(f"{at}-0", alert)


def txns(entries: list[StreamEntry]) -> list[str]:
    return [e.alert.transaction_id for e in entries]


def test_newest_first_bounded_and_deduplicated() -> None:
    book = AlertBook(capacity=3)
    assert len(book.add([entry(0), entry(1)])) == 2
    assert book.add([entry(1)]) == []
    book.add([entry(3), entry(2)])
    assert txns(book.newest_first()) == ["txn_00003", "txn_00002", "txn_00001"]
    assert len(book) == 3
    assert book.total_seen == 4


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AlertBook(0)


def test_filters() -> None:
    book = AlertBook()
    book.add([entry(i) for i in range(8)])
    assert txns(book.newest_first(AlertFilter(user="u-7f3a91"))) == ["txn_00005", "txn_00001"]
    assert txns(book.newest_first(AlertFilter(reason="impossible"))) == ["txn_00006", "txn_00002"]
    assert txns(book.newest_first(AlertFilter.parse("lisbon"))) == []
    assert len(book.newest_first(AlertFilter.parse("amount_spike"))) == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user:u-1", AlertFilter(user="u-1")),
        ("r:VELOCITY", AlertFilter(reason="VELOCITY")),
        ("u:x reason:AMOUNT some text", AlertFilter("x", "AMOUNT", "some text")),
        ('"two words"', AlertFilter(text="two words")),
        ("", AlertFilter()),
    ],
)
def test_filter_parse(query: str, expected: AlertFilter) -> None:
    assert AlertFilter.parse(query) == expected


@pytest.mark.parametrize(("query", "message"), [("user:", "has no value"), ('"open', "not valid")])
def test_filter_parse_errors(query: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        AlertFilter.parse(query)


def test_filter_describe_round_trips() -> None:
    flt = AlertFilter(user="u-1", reason="VELOCITY")
    assert AlertFilter.parse(flt.describe()) == flt


def test_per_minute_counts_the_last_minutes() -> None:
    now = BASE_MS + 10 * 60_000 + 30_000  # mid-minute: buckets are calendar minutes
    book = AlertBook()
    book.add(
        [entry(0, now - 5), entry(1, now - 10), entry(2, now - 61_000), entry(3, now - 40 * 60_000)]
    )
    counts = book.per_minute(now, minutes=30)
    assert len(counts) == 30
    assert counts[-1] == 2 and counts[-2] == 1 and sum(counts) == 3
