"""Shared fixtures: the real local stack (session scope) lives in tests/fixtures/stack.py."""

import os
import tempfile

import pytest

pytest_plugins = ["tests.fixtures.stack"]


def pytest_configure(config: pytest.Config) -> None:
    """Tests never read or write the user's state dir: its generated secrets (a Redis
    password, say) would reach test servers that have none. Set before collection, since
    some modules read the settings at import."""
    os.environ["FRAUDCTL_STATE_DIR"] = tempfile.mkdtemp(prefix="fraudctl-test-state-")


@pytest.fixture(autouse=True)
def _private_state_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test its own default state dir: secrets one test's `up` generates must not
    reach the next test's servers."""
    monkeypatch.setenv("FRAUDCTL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
