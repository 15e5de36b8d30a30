"""Generated secrets: 0600 file, filled into the settings, never a known default."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from foundation.secrets import (
    SPECS,
    InsecureSecret,
    SecretsError,
    ensure_secrets,
    load_secrets,
    require_secret,
    rotate_secret,
    secrets_path,
)
from foundation.settings import GatewaySettings, Settings, settings_env, settings_with
from fraudctl.stack.hardening import InsecureConfig, secure_stack, write_auth_conf


def test_first_up_generates_every_secret_once_in_a_0600_file(tmp_path: Path) -> None:
    assert ensure_secrets(tmp_path) == [spec.name for spec in SPECS]
    path = secrets_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = load_secrets(tmp_path)
    assert len(set(first.values())) == len(SPECS) and all(len(v) >= 40 for v in first.values())
    assert ensure_secrets(tmp_path) == []
    assert load_secrets(tmp_path) == first


def test_rotating_one_secret_keeps_the_others(tmp_path: Path) -> None:
    ensure_secrets(tmp_path)
    before = load_secrets(tmp_path)
    rotate_secret(tmp_path, "card_secret")
    after = load_secrets(tmp_path)
    assert after["card_secret"] != before["card_secret"]
    assert {k: v for k, v in after.items() if k != "card_secret"} == {
        k: v for k, v in before.items() if k != "card_secret"
    }
    with pytest.raises(SecretsError, match="choose one of"):
        rotate_secret(tmp_path, "nope")


def test_a_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    ensure_secrets(tmp_path)
    secrets_path(tmp_path).chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_secrets(tmp_path)


def test_a_public_default_is_replaced_on_up(tmp_path: Path) -> None:
    secrets_path(tmp_path).write_text(json.dumps({"card_secret": "fraudctl-local-dev-card-secret"}))
    secrets_path(tmp_path).chmod(0o600)
    assert "card_secret" in ensure_secrets(tmp_path)
    assert load_secrets(tmp_path)["card_secret"] != "fraudctl-local-dev-card-secret"


@pytest.mark.parametrize("value", ["", "fraudctl-local-dev-card-secret"])
def test_known_defaults_are_refused_with_the_fix(value: str) -> None:
    with pytest.raises(InsecureSecret, match=r"FRAUDCTL_GATEWAY__CARD_SECRET.*fraudctl up"):
        require_secret(value, "FRAUDCTL_GATEWAY__CARD_SECRET", "fingerprints are reversible")


def test_settings_fill_secrets_from_the_state_dir_but_explicit_values_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_secrets(tmp_path)
    stored = load_secrets(tmp_path)
    monkeypatch.setenv("FRAUDCTL_GATEWAY__API_KEY", "explicit-key-from-the-environment")
    s = settings_with({"state_dir": tmp_path})
    assert s.gateway.card_secret.get_secret_value() == stored["card_secret"]
    assert s.redis.password.get_secret_value() == stored["redis_password"]
    assert s.gateway.api_key.get_secret_value() == "explicit-key-from-the-environment"
    env = settings_env(s)
    # File secrets stay out of children's environments (they read the file); explicit stay.
    assert "FRAUDCTL_GATEWAY__CARD_SECRET" not in env
    assert env["FRAUDCTL_GATEWAY__API_KEY"] == "explicit-key-from-the-environment"
    assert env["FRAUDCTL_STATE_DIR"] == str(tmp_path)


def test_another_state_dirs_secrets_are_not_carried_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = tmp_path / "home", tmp_path / "other"
    ensure_secrets(home)
    monkeypatch.setenv("FRAUDCTL_STATE_DIR", str(home))
    s = settings_with({"state_dir": other})
    assert s.gateway.card_secret.get_secret_value() == ""


def test_secure_stack_fills_the_shared_settings_object_in_place(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    assert s.redis.password.get_secret_value() == ""
    generated = secure_stack(s)
    assert len(generated) == len(SPECS)
    assert s.redis.password.get_secret_value() == load_secrets(tmp_path)["redis_password"]


def test_exposing_the_gateway_without_auth_is_refused_with_the_fix(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, gateway=GatewaySettings(host="0.0.0.0"))
    with pytest.raises(InsecureConfig, match=r"REQUIRE_AUTH=true.*HOST=127\.0\.0\.1"):
        secure_stack(s)
    ok = Settings(state_dir=tmp_path, gateway=GatewaySettings(host="0.0.0.0", require_auth=True))
    secure_stack(ok)


def test_redis_auth_conf_is_private_and_refuses_an_empty_password(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    with pytest.raises(InsecureConfig, match="FRAUDCTL_REDIS__PASSWORD"):
        write_auth_conf(s.redis, tmp_path / "auth.conf")
    s.redis.password = SecretStr("a-long-random-password-value")
    write_auth_conf(s.redis, tmp_path / "auth.conf")
    conf = tmp_path / "auth.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert conf.read_text() == 'requirepass "a-long-random-password-value"\n'


def test_a_dedupe_ttl_shorter_than_the_oldest_restorable_checkpoint_is_refused() -> None:
    with pytest.raises(ValidationError, match="FRAUDCTL_REDIS__ALERT_DEDUPE_TTL_S"):
        settings_with({"redis.alert_dedupe_ttl_s": 60})
    ok = settings_with({"redis.alert_dedupe_ttl_s": 3600, "job.max_restore_age_s": 0})
    assert ok.redis.alert_dedupe_ttl_s >= ok.job.oldest_restore_s
