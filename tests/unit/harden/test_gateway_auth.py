"""Gateway: API keys when required, foreign browser origins refused, bounded future skew."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from foundation.exposure import ExposedWithoutAuth
from foundation.secrets import InsecureSecret
from foundation.settings import GatewaySettings, Settings
from gateway.api.app import create_app
from tests.unit.gateway.conftest import Gateway, RecordingProducer

KEY = "test-api-key-0123456789abcdefghijklmnop"
SECRET = SecretStr("test-card-secret-0123456789abcdef")


def body(ts: datetime | None = None, txn: str = "t1") -> dict[str, object]:
    return {
        "transaction_id": txn, "user_id": "u1", "card_number": "4242 4242 4242 4242",
        "amount": 50.0, "merchant_id": "m1", "location": "New York",
        "timestamp": (ts or datetime.now(UTC)).isoformat(),
    }  # fmt: skip


def gateway(**changes: object) -> Gateway:
    cfg = GatewaySettings(card_secret=SECRET, api_key=SecretStr(KEY), **changes)  # type: ignore[arg-type]
    producer = RecordingProducer()
    return Gateway(create_app(Settings(gateway=cfg), producer=producer), producer)


@pytest.fixture
def locked() -> Iterator[Gateway]:
    with gateway(require_auth=True) as gw:
        yield gw


def test_without_a_key_401_and_nothing_produced(locked: Gateway) -> None:
    answer = locked.request("POST", "/transaction", json=body())
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "X-API-Key" in answer.json()["message"]
    wrong = locked.request("POST", "/transaction", json=body(), headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert locked.producer.records == []


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}], ids=["header", "bearer"]
)
def test_with_the_key_202(locked: Gateway, headers: dict[str, str]) -> None:
    answer = locked.request("POST", "/transaction", json=body(), headers=headers)
    assert answer.status_code == 202, answer.text
    assert len(locked.producer.records) == 1


def test_probes_stay_open_and_other_paths_need_the_key(locked: Gateway) -> None:
    for path in ("/health", "/healthz", "/livez"):
        assert locked.request("GET", path).status_code == 200
    assert locked.request("GET", "/metrics").status_code == 401
    assert locked.request("POST", "/labels", json=[]).status_code == 401


def test_loopback_default_needs_no_key() -> None:
    with gateway() as gw:
        assert gw.request("POST", "/transaction", json=body()).status_code == 202


def test_a_foreign_page_origin_is_refused_the_own_docs_page_is_not() -> None:
    with gateway() as gw:
        evil = gw.request(
            "POST", "/transaction", json=body(), headers={"Origin": "http://evil.example:8000"}
        )
        assert evil.status_code == 403 and evil.json()["error"] == "foreign_origin"
        own = gw.request(
            "POST", "/transaction", json=body(txn="t2"), headers={"Origin": "http://127.0.0.1:8000"}
        )
        assert own.status_code == 202
        assert len(gw.producer.records) == 1  # fmt: skip


def test_binding_beyond_loopback_without_auth_is_refused() -> None:
    cfg = GatewaySettings(card_secret=SECRET, host="0.0.0.0")
    with pytest.raises(ExposedWithoutAuth, match="FRAUDCTL_GATEWAY__REQUIRE_AUTH=true"):
        create_app(Settings(gateway=cfg), producer=RecordingProducer())


@pytest.mark.parametrize("secret", ["", "fraudctl-local-dev-card-secret"])
def test_a_known_card_secret_is_refused(secret: str) -> None:
    cfg = GatewaySettings(card_secret=SecretStr(secret))
    with pytest.raises(InsecureSecret, match="FRAUDCTL_GATEWAY__CARD_SECRET"):
        create_app(Settings(gateway=cfg), producer=RecordingProducer())


def test_auth_required_with_no_key_refuses_to_start() -> None:
    cfg = GatewaySettings(card_secret=SECRET, require_auth=True)
    with pytest.raises(InsecureSecret, match="FRAUDCTL_GATEWAY__API_KEY"):
        create_app(Settings(gateway=cfg), producer=RecordingProducer())


def test_future_skew_beyond_the_setting_is_a_clear_422() -> None:
    now = datetime.now(UTC)
    with gateway() as gw:
        near = gw.request("POST", "/transaction", json=body(now + timedelta(minutes=4)))
        assert near.status_code == 202
        far = gw.request("POST", "/transaction", json=body(now + timedelta(minutes=6), "t2"))
        assert far.status_code == 422
        error = far.json()["errors"][0]
        assert error["field"] == "timestamp" and error["type"] == "timestamp_in_future"
        assert "300 s" in error["message"] and "MAX_FUTURE_SKEW_S" in error["message"]
    with gateway(max_future_skew_s=3600) as gw:
        later = gw.request("POST", "/transaction", json=body(now + timedelta(minutes=30)))
        assert later.status_code == 202
