from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from foundation.settings import Settings, settings_env, settings_with
from fraudctl.cli import app


def test_defaults_match_the_design() -> None:
    s = Settings()
    assert (s.gateway.port, s.dashboard.port, s.flink.rest_port) == (8000, 8080, 8081)
    assert (s.kafka.port, s.redis.port) == (9092, 6379)
    assert s.flink.job_name == "Stateful Fraud Detection with Redis Alerts"
    hosts = {s.kafka.host, s.redis.host, s.flink.host, s.gateway.host, s.dashboard.host}
    assert hosts == {"127.0.0.1"}


def test_environment_overrides_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDCTL_KAFKA__PORT", "19092")
    monkeypatch.setenv("FRAUDCTL_STATE_DIR", "/tmp/elsewhere")
    s = Settings()
    assert s.kafka.bootstrap == "127.0.0.1:19092"
    assert s.state_dir == Path("/tmp/elsewhere")


def test_settings_env_round_trips_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = settings_with({"redis.port": 7001, "gateway.workers": 3})
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    again = Settings()
    assert again.redis.port == 7001
    assert again.gateway.workers == 3
    assert again.gateway.card_secret.get_secret_value() == (
        original.gateway.card_secret.get_secret_value()
    )


def test_secrets_are_not_shown_in_reprs() -> None:
    s = settings_with({"gateway.card_secret": "a-card-secret-for-the-repr-test"})
    assert s.gateway.card_secret.get_secret_value() not in repr(s)


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDCTL_KAFKA__PORT", "70000")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "FRAUDCTL_KAFKA__PORT" in result.output
    assert "65535" in result.output


@pytest.mark.parametrize(
    "variable",
    ["FRAUDCTL_JOB__PARALELISM", "FRAUDCTL_JOB__REORDER_HOLD_MS", "FRAUDCTL_REDIS__PROT"],
)
def test_an_unknown_setting_in_a_section_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "2")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert f"(env {variable}): not a setting" in output


@pytest.mark.parametrize("value", ["-1", "1001", "soon"])
def test_a_bad_log_linger_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FRAUDCTL_JOB__LOG_LINGER_MS", value)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "FRAUDCTL_JOB__LOG_LINGER_MS" in " ".join(result.output.split())


def test_the_log_linger_defaults_to_10_ms_and_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().job.log_linger_ms == 10
    monkeypatch.setenv("FRAUDCTL_JOB__LOG_LINGER_MS", "0")
    assert Settings().job.log_linger_ms == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUDCTL_JOB__WARMUP_TRANSACTIONS", "-1"),
        ("FRAUDCTL_JOB__WARMUP_TRANSACTIONS", "many"),
        ("FRAUDCTL_JOB__WARMUP_TIMEOUT_S", "0"),
    ],
)
def test_a_bad_warmup_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert variable in " ".join(result.output.split())


def test_the_warmup_is_on_by_default_and_0_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().job.warmup_transactions == 15_000
    monkeypatch.setenv("FRAUDCTL_JOB__WARMUP_TRANSACTIONS", "0")
    assert Settings().job.warmup_transactions == 0


def test_a_bad_flag_is_refused() -> None:
    result = CliRunner().invoke(app, ["--redis-port", "0", "status"])
    assert result.exit_code == 2
    assert "--redis-port" in result.output
