"""Gateway answers become outcomes with the gateway's reasons; a down gateway is backed off."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fraudctl.simulate.sender import BackoffGate, GatewaySender, Outcome
from fraudctl.simulate.stats import CONNECTION_LOST, TIMEOUT, UNREACHABLE
from tests.unit.simulate.fakes import FakeGateway

BODY = {"transaction_id": "t1", "amount": 10.0}


def sender_for(handler: object) -> GatewaySender:
    return GatewaySender("http://gw", transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


async def test_single_accepted_and_refused_with_field_reasons() -> None:
    gateway = FakeGateway(refuse_amount_over=100.0)
    sender = GatewaySender("http://gw", transport=gateway.transport())
    assert (await sender.send_one(BODY)).accepted
    refused = await sender.send_one({**BODY, "amount": 500.0})
    assert refused.status == 422
    assert refused.error == "invalid_transaction"
    assert refused.message == "amount: is too large for this test"
    await sender.close()


async def test_batch_gives_one_outcome_per_item_in_order() -> None:
    gateway = FakeGateway(refuse_amount_over=100.0)
    sender = GatewaySender("http://gw", transport=gateway.transport())
    bodies = [{**BODY, "transaction_id": f"t{i}", "amount": 50.0 + 40 * i} for i in range(4)]
    outcomes = await sender.send_batch(bodies)
    assert [o.status for o in outcomes] == [202, 202, 422, 422]
    assert gateway.requests == 1
    await sender.close()


async def test_batch_refused_as_a_whole_shares_the_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={"error": "batch_too_large", "message": "the batch has 5 transactions; split it"},
        )

    outcomes = await sender_for(handler).send_batch([BODY] * 5)
    assert len(outcomes) == 5
    assert {(o.status, o.error) for o in outcomes} == {(422, "batch_too_large")}
    assert "split it" in outcomes[0].message


async def test_503_keeps_the_gateway_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503, json={"error": "broker_unavailable", "message": "Kafka did not confirm"}
        )

    outcome = await sender_for(handler).send_one(BODY)
    assert outcome == Outcome(503, "broker_unavailable", "Kafka did not confirm")
    assert outcome.gateway_down


async def test_non_json_error_body_still_counts_with_its_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Internal Server Error")

    outcome = await sender_for(handler).send_one(BODY)
    assert (outcome.status, outcome.error) == (500, "http_500")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (httpx.ConnectError("refused"), UNREACHABLE),
        (httpx.ReadTimeout("slow"), TIMEOUT),
        (httpx.RemoteProtocolError("closed"), CONNECTION_LOST),
    ],
)
async def test_transport_failures(exc: Exception, status: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    assert (await sender_for(handler).send_one(BODY)).status == status
    assert {o.status for o in await sender_for(handler).send_batch([BODY] * 3)} == {status}


async def test_health_reports_reachability_and_readiness() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    def not_ready(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"status": "unavailable", "message": "broker down"})

    answer = await sender_for(down).health()
    assert not answer.reachable and not answer.ok
    answer = await sender_for(not_ready).health()
    assert answer.reachable and not answer.ok and "broker down" in answer.detail


async def test_gate_trips_on_unreachable_and_probes_with_growing_backoff() -> None:
    gateway = FakeGateway(down=True)
    sender = GatewaySender("http://gw", transport=gateway.transport())
    gate = BackoffGate(sender, first_s=0.02, max_s=0.08)
    gate.observe(Outcome(UNREACHABLE, "unreachable", "connection refused"))
    assert gate.is_open and "unreachable" in gate.reason
    gate.observe(Outcome(UNREACHABLE))  # more failures while open do not stack probes
    await asyncio.sleep(0.02 + 0.04 + 0.08 + 0.05)  # three probes, all failing
    assert gate.is_open
    gateway.down = False
    await asyncio.sleep(0.1)
    assert not gate.is_open and gate.reason == ""
    assert gate.trips == 1
    await gate.close()
    await sender.close()


async def test_gate_needs_a_streak_of_503_and_a_success_resets_it() -> None:
    sender = GatewaySender("http://gw", transport=FakeGateway().transport())
    gate = BackoffGate(sender, first_s=5.0, unavailable_streak=3)
    busy = Outcome(503, "broker_unavailable", "slow")
    gate.observe(busy)
    gate.observe(busy)
    gate.observe(Outcome(202))
    gate.observe(busy)
    gate.observe(busy)
    assert not gate.is_open
    gate.observe(busy)
    assert gate.is_open and "503" in gate.reason
    await gate.close()
    await sender.close()
