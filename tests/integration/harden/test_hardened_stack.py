"""Acceptance on the real stack: generated secrets used everywhere, Redis refuses strangers,
no exposure without auth, API keys enforced when required, schema fuzzing stores nothing
invalid on `transactions`."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from foundation.redis_client import sync_client
from foundation.secrets import load_secrets, secrets_path
from foundation.settings import Settings
from fraudctl.stack import StackManager
from models.contracts.transaction import Transaction
from tests.fixtures.ports import free_ports
from tests.integration.gateway.topic import end_offsets, read_between
from tests.unit.harden.gateway_fuzz import fuzz

pytestmark = pytest.mark.timeout(900)


def seed_body(txn: str) -> dict[str, Any]:
    return {
        "transaction_id": txn, "user_id": "user-harden", "card_number": "4242-4242-4242-4242",
        "amount": 50.0, "timestamp": datetime.now(UTC).isoformat(), "merchant_id": "m1",
        "location": "New York",
    }  # fmt: skip


def test_up_generates_private_secrets_that_every_component_uses(stack: StackManager) -> None:
    settings = stack.settings
    path = secrets_path(settings.state_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = load_secrets(settings.state_dir)
    assert settings.redis.password.get_secret_value() == stored["redis_password"]
    stranger = redis.Redis(host=settings.redis.host, port=settings.redis.port)
    with pytest.raises(redis.AuthenticationError):
        stranger.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=settings.redis.port, password="guessed").ping()
    assert sync_client(settings.redis).ping()
    assert sync_client(settings.redis).config_get("maxmemory-policy") == {
        "maxmemory-policy": "noeviction"
    }
    # The dashboard reaches Redis with the password; the gateway took the card secret.
    health = httpx.get(f"{settings.dashboard.url}/healthz", timeout=5).json()
    assert health["redis"] == "up"
    answer = httpx.post(
        f"{settings.gateway.url}/transaction", json=seed_body("harden-1"), timeout=10
    )
    assert answer.status_code == 202, answer.text  # loopback default: no key needed


def _run(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], env={**env, "COLUMNS": "200"}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def test_gateway_on_all_interfaces_without_auth_is_refused(
    stack: StackManager, stack_env: dict[str, str]
) -> None:
    env = {**stack_env, "FRAUDCTL_GATEWAY__HOST": "0.0.0.0"}
    result = _run(env, "-m", "fraudctl.cli", "up", "gateway", "--no-console")
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert "without authentication" in message
    assert "FRAUDCTL_GATEWAY__REQUIRE_AUTH=true" in message and "HOST=127.0.0.1" in message
    port = str(free_ports(1)[0])
    direct = _run(env, "-m", "uvicorn", "gateway.api.app:create_app", "--factory",
                  "--host", "0.0.0.0", "--port", port)  # fmt: skip
    assert direct.returncode != 0
    assert "FRAUDCTL_GATEWAY__REQUIRE_AUTH=true" in " ".join(direct.stderr.split())


@pytest.fixture
def locked_gateway(stack: StackManager, stack_env: dict[str, str]) -> Iterator[str]:
    """A second gateway on the stack's broker with FRAUDCTL_GATEWAY__REQUIRE_AUTH=true."""
    port = free_ports(1)[0]
    env = {**stack_env, "FRAUDCTL_GATEWAY__REQUIRE_AUTH": "true",
           "FRAUDCTL_GATEWAY__PORT": str(port)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway.api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_with_auth_required_no_key_is_401_and_the_key_is_202(
    stack: StackManager, locked_gateway: str
) -> None:
    key = stack.settings.gateway.api_key.get_secret_value()
    bare = httpx.post(f"{locked_gateway}/transaction", json=seed_body("harden-2"), timeout=10)
    assert bare.status_code == 401
    keyed = httpx.post(f"{locked_gateway}/transaction", json=seed_body("harden-3"),
                       headers={"X-API-Key": key}, timeout=10)  # fmt: skip
    assert keyed.status_code == 202, keyed.text
    bearer = httpx.post(f"{locked_gateway}/transaction", json=seed_body("harden-4"),
                        headers={"Authorization": f"Bearer {key}"}, timeout=10)  # fmt: skip
    assert bearer.status_code == 202


def test_schema_fuzzing_the_real_gateway_no_5xx_nothing_invalid_stored(
    stack: StackManager,
) -> None:
    settings: Settings = stack.settings
    topic, bootstrap = settings.kafka.transactions_topic, settings.kafka.bootstrap
    before = end_offsets(bootstrap, topic)
    openapi = httpx.get(f"{settings.gateway.url}/openapi.json", timeout=10).json()
    with httpx.Client(base_url=settings.gateway.url, timeout=30) as client:

        def send(method: str, path: str, headers: dict[str, str], params: dict[str, Any],
                 body: bytes | None) -> int:  # fmt: skip
            return client.request(method, path, headers=headers, params=params,
                                  content=body).status_code  # fmt: skip

        statuses = fuzz(openapi, send, 1000)
    # a control record that must arrive, so "nothing invalid" is not "nothing at all"
    control = httpx.post(f"{settings.gateway.url}/transaction", json=seed_body("harden-ctl"),
                         timeout=10)  # fmt: skip
    assert control.status_code == 202
    assert sum(statuses.values()) >= 1000 and not [s for s in statuses if s >= 500]
    records = read_between(bootstrap, topic, before, end_offsets(bootstrap, topic))
    assert records
    parsed = [Transaction.from_json(record.raw) for record in records]
    assert "harden-ctl" in {txn.transaction_id for txn in parsed}
    assert not [r for r in records if b"card_number" in r.raw]
