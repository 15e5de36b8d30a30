"""The stack's generated secrets: one file in the state dir, mode 0600, made on first `up`.

Four values: the card-fingerprint HMAC key, the gateway API key, the dashboard token and
the Redis password. `foundation.settings` fills every secret setting that was not given
explicitly (environment, flag) from this file, so every component and every operator tool
reading the same state dir uses the same values without copying them around. A service
refuses to start with a value anyone could know: empty, or a public default that once
shipped with the code.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SECRETS_FILE: Final = "secrets.json"
TOKEN_BYTES: Final = 32  # 256 bits, URL-safe base64: 43 characters


@dataclass(frozen=True)
class SecretSpec:
    """Where a secret lives in the settings and what rotating it means."""

    name: str
    section: str
    field: str
    rotation: str

    @property
    def env(self) -> str:
        return f"FRAUDCTL_{self.section.upper()}__{self.field.upper()}"


SPECS: Final = (
    SecretSpec(
        "card_secret",
        "gateway",
        "card_secret",
        "card fingerprints change from the next transaction on: per-user card features and "
        "labels keyed by fingerprint start again from nothing (old fingerprints no longer "
        "match); restart the stack (`fraudctl down && fraudctl up`)",
    ),
    SecretSpec(
        "gateway_api_key",
        "gateway",
        "api_key",
        "clients holding the old key get 401 once the gateway restarts; fraudctl's own tools "
        "read the new key from the secrets file",
    ),
    SecretSpec(
        "dashboard_token",
        "dashboard",
        "token",
        "open dashboard pages must log in again with the new token after the dashboard restarts",
    ),
    SecretSpec(
        "redis_password",
        "redis",
        "password",
        "Redis, the job and every reader must restart together: `fraudctl down && fraudctl up`",
    ),
)
BY_NAME: Final = {spec.name: spec for spec in SPECS}
# Values that were public at some point: a fingerprint keyed with one is reversible.
KNOWN_DEFAULTS: Final = frozenset({"", "fraudctl-local-dev-card-secret", "changeme"})


class SecretsError(ValueError):
    """The secrets file cannot be used; the message says how to fix it."""


class InsecureSecret(ValueError):
    """A service was given a secret anyone could know."""


def secrets_path(state_dir: Path) -> Path:
    return state_dir.expanduser() / SECRETS_FILE


def load_secrets(state_dir: Path) -> dict[str, str]:
    """The secrets of `state_dir` (empty when none were generated yet)."""
    path = secrets_path(state_dir)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SecretsError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}): run "
            f"`chmod 600 {path}`, then `fraudctl secrets rotate` (they may have been read)"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SecretsError(
            f"{path} is not a readable secrets file ({exc}): delete it and run `fraudctl up` "
            "to generate new secrets"
        ) from None
    if not isinstance(data, dict):
        raise SecretsError(f"{path} is not a JSON object: delete it and run `fraudctl up`")
    return {k: v for k, v in data.items() if k in BY_NAME and isinstance(v, str)}


def new_secret() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def _write(state_dir: Path, values: Mapping[str, str]) -> Path:
    """Write atomically, created 0600 (never briefly readable by others)."""
    root = state_dir.expanduser()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_path(root)
    tmp = path.with_name(f".{SECRETS_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(dict(sorted(values.items())), indent=2) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def ensure_secrets(state_dir: Path) -> list[str]:
    """Generate every secret that is missing (or a known default); the names generated."""
    current = load_secrets(state_dir)
    missing = [spec.name for spec in SPECS if current.get(spec.name, "") in KNOWN_DEFAULTS]
    if missing:
        _write(state_dir, {**current, **{name: new_secret() for name in missing}})
    return missing


def rotate_secret(state_dir: Path, name: str) -> str:
    """Replace one secret with a new random value; the new value."""
    if name not in BY_NAME:
        raise SecretsError(f"there is no secret {name!r}: choose one of {', '.join(BY_NAME)}")
    current = load_secrets(state_dir)
    value = new_secret()
    _write(state_dir, {**current, name: value})
    return value


def require_secret(value: str, env: str, why: str) -> str:
    """`value` unless it is empty or a known default; the error says how to fix it."""
    if value in KNOWN_DEFAULTS:
        what = "empty" if not value else "a public default anyone can know"
        raise InsecureSecret(
            f"{env} is {what}, so {why}. Run `fraudctl up` once (it generates secrets into "
            "the state dir's secrets.json), or set FRAUDCTL_STATE_DIR to that state dir, or set "
            f"{env} to a long random value (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)."
        )
    return value
