"""The replay against a fake gateway: order, retries, refusals, labels, retrains."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fraudctl.backtest.dataset import BadRows, derived_card
from fraudctl.backtest.labels import LabelPoster, LabelSchedule
from fraudctl.backtest.replay import ReplayConfig, Replayer, RetrainEvent, prepare
from fraudctl.simulate.sender import GatewaySender
from models.contracts.card import luhn_valid
from tests.unit.backtest.fakes import CARD, DAY0, HOUR, FakeGateway, make_rows

DAY = 24 * HOUR


def sender_for(gateway: FakeGateway) -> GatewaySender:
    return GatewaySender("http://gw", connections=4, transport=gateway.transport())


def test_prepare_tags_ids_and_remaps_cards() -> None:
    rows = make_rows(3)
    bad = BadRows()
    items = prepare(rows, ReplayConfig(tag="bt1"), bad)
    body = items[0].body
    assert body["transaction_id"] == "t0000-bt1"
    assert body["user_id"] == "u0-bt1" and body["merchant_id"] == "m0-bt1"
    assert body["card_number"] == derived_card(f"bt1:{CARD}") != CARD
    assert luhn_valid(body["card_number"])
    assert body["timestamp"] == "2025-07-01T00:00:00Z"
    plain = prepare(rows, ReplayConfig(tag="bt1", isolate=False), bad)[0].body
    assert (plain["user_id"], plain["card_number"]) == ("u0", CARD)
    assert plain["transaction_id"] == "t0000-bt1"  # always tagged: reruns are new txns


def test_prepare_refuses_ids_with_no_room_for_the_tag() -> None:
    rows = make_rows(2)
    rows[0] = replace(rows[0], user_id="u" * 60)
    bad = BadRows()
    items = prepare(rows, ReplayConfig(tag="bt1234"), bad)
    assert len(items) == 1
    assert bad.reasons == {"user_id is longer than 57 characters (room left for the run tag)": 1}


async def test_every_users_rows_arrive_in_event_time_order_despite_lanes() -> None:
    gateway = FakeGateway()
    rows = make_rows(200, users=7)
    config = ReplayConfig(tag="x", batch_size=5, lanes=3, label_delay_ms=None)
    replayer = Replayer(config, sender_for(gateway), BadRows())
    stats = await replayer.run(prepare(rows, config, BadRows()))
    assert len(stats.accepted) == 200 and not stats.failed
    by_user: dict[str, list[str]] = {}
    for body in gateway.stored:
        by_user.setdefault(body["user_id"], []).append(body["timestamp"])
    assert len(by_user) == 7
    assert all(times == sorted(times) for times in by_user.values())
    assert [item.row.event_ms for item in stats.accepted] == [r.event_ms for r in rows]
    assert stats.clock_ms == rows[-1].event_ms


async def test_503_is_retried_and_422_is_a_bad_row_with_the_gateway_reason() -> None:
    gateway = FakeGateway(unavailable=2, refuse=frozenset({12.0}))
    rows = make_rows(10)
    bad = BadRows()
    config = ReplayConfig(tag="x", batch_size=10, lanes=1, label_delay_ms=None)
    stats = await Replayer(config, sender_for(gateway), bad).run(prepare(rows, config, bad))
    assert len(stats.accepted) == 9
    assert bad.reasons == {"refused by the gateway: amount: is above the limit": 1}
    assert bad.examples == [("row 3", "refused by the gateway: amount: is above the limit")]
    assert gateway.requests == 3


async def test_a_gateway_that_stays_down_fails_the_rows_with_the_reason() -> None:
    gateway = FakeGateway(unavailable=10_000)
    rows = make_rows(6)
    config = ReplayConfig(tag="x", batch_size=2, lanes=1, label_delay_ms=None, give_up_s=0.3)
    stats = await Replayer(config, sender_for(gateway), BadRows()).run(
        prepare(rows, config, BadRows())
    )
    assert not stats.accepted
    assert stats.failed == {"not stored: gateway unavailable (the broker is down)": 6}


async def test_labels_are_posted_once_the_event_clock_passes_time_plus_delay() -> None:
    gateway = FakeGateway()
    rows = make_rows(48, step_ms=HOUR)  # two days, one row an hour
    config = ReplayConfig(tag="x", batch_size=4, lanes=1, label_delay_ms=10 * HOUR)
    poster = LabelPoster("http://gw", transport=gateway.transport())
    replayer = Replayer(config, sender_for(gateway), BadRows(), labels=poster)
    seen_before: list[int] = []
    original = poster.post

    async def spy(labels):  # type: ignore[no-untyped-def]
        seen_before.append(len(gateway.stored))
        await original(labels)

    poster.post = spy  # type: ignore[method-assign]
    await replayer.run(prepare(rows, config, BadRows()))
    await poster.close()
    # the last event is at hour 47: labels of hours 0..37 are due, 38..47 never arrive
    assert [label["transaction_id"] for label in gateway.labels] == [
        f"t{i:04d}-x" for i in range(38)
    ]
    first = gateway.labels[0]
    assert first == {
        "transaction_id": "t0000-x",
        "label": "fraud",
        "source": "simulator",
        "labelled_at": DAY0 + 10 * HOUR,
        "user_id": "u0-x",
        "merchant_id": "m0-x",
    }
    # no label was posted before the transactions up to its labelled_at were stored
    for label, stored in zip(gateway.labels, seen_before, strict=False):
        assert stored * HOUR > label["labelled_at"] - DAY0 - HOUR
    assert poster.result.sent == 38


async def test_retrain_is_called_every_period_of_event_time() -> None:
    gateway = FakeGateway()
    rows = make_rows(24 * 5, step_ms=HOUR)  # five days
    calls: list[tuple[int, int]] = []

    async def retrain(at_event_ms: int, sent: int) -> RetrainEvent:
        calls.append((at_event_ms, sent))
        assert len(gateway.stored) == sent  # paused: everything sent is stored
        return RetrainEvent(at_event_ms, f"v{len(calls)}", 0.0, "rolled out")

    config = ReplayConfig(
        tag="x", batch_size=6, lanes=2, label_delay_ms=None, retrain_every_ms=2 * DAY
    )
    stats = await Replayer(config, sender_for(gateway), BadRows(), retrain=retrain).run(
        prepare(rows, config, BadRows())
    )
    assert [(at - DAY0) // HOUR for at, _ in calls] == [59, 107]  # first window past 48h, 96h
    assert [event.version for event in stats.retrains] == ["v1", "v2"]


def test_schedule_orders_by_due_time_and_validates() -> None:
    schedule = LabelSchedule(5)
    schedule.add("b", True, DAY0 + 20, "u", "m")
    schedule.add("a", False, DAY0 + 10, "u", "m")
    assert schedule.due(DAY0 + 14) == []
    due = schedule.due(DAY0 + 25)
    assert [(label.transaction_id, label.labelled_at) for label in due] == [
        ("a", DAY0 + 15),
        ("b", DAY0 + 25),
    ]
    assert len(schedule) == 0
    with pytest.raises(ValueError, match="0 or more"):
        LabelSchedule(-1)
