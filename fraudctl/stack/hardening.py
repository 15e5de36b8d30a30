"""What `up` does for security before any process starts: secrets, exposure, Redis auth.

The secrets are generated once into the state dir (`foundation.secrets`) and filled into
the manager's settings object in place, so everything that shares it (the CLI, a test
session) talks to the stack with the very values the stack was started with.
"""

from __future__ import annotations

import os
from pathlib import Path

from foundation.exposure import ExposedWithoutAuth, check_exposure
from foundation.secrets import (
    SPECS,
    InsecureSecret,
    SecretsError,
    ensure_secrets,
    new_secret,
    require_secret,
)
from foundation.settings import RedisSettings, Settings
from fraudctl.stack.errors import StackError


class InsecureConfig(StackError):
    """A setting would start a component that anyone could use or read."""


def secure_stack(settings: Settings) -> list[str]:
    """Generate missing secrets, fill them into `settings`; the names generated now."""
    try:
        generated = ensure_secrets(settings.state_dir)
        settings.fill_secrets()
    except SecretsError as exc:
        raise InsecureConfig(str(exc)) from None
    try:
        check_exposure("gateway", settings.gateway.host, settings.gateway.require_auth, "gateway")
        check_exposure(
            "dashboard", settings.dashboard.host, settings.dashboard.require_auth, "dashboard"
        )
    except ExposedWithoutAuth as exc:
        raise InsecureConfig(str(exc)) from None
    return generated


def write_auth_conf(cfg: RedisSettings, path: Path) -> None:
    """A redis.conf fragment with `requirepass`, mode 0600 (argv is visible to `ps`)."""
    try:
        password = require_secret(
            cfg.password.get_secret_value(),
            "FRAUDCTL_REDIS__PASSWORD",
            "anyone who can reach Redis could read alerts, or pre-set a dedupe marker and "
            "suppress one",
        )
    except InsecureSecret as exc:
        raise InsecureConfig(str(exc)) from None
    if any(char in password for char in '"\\\n\r'):
        raise InsecureConfig(
            "FRAUDCTL_REDIS__PASSWORD contains quotes, backslashes or line breaks: use "
            "letters, digits, '-' and '_' (`fraudctl secrets rotate redis_password`)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, f'requirepass "{password}"\n'.encode())
    finally:
        os.close(fd)


def secret_env(settings: Settings) -> dict[str, str]:
    """The secrets as FRAUDCTL_… variables, for compose (containers cannot read the file).

    Nothing is generated here (`up` does that): before the first `up` a compose command
    such as `ps` or `down` gets a throwaway value, which no container ever uses.
    """
    try:
        settings.fill_secrets()
    except SecretsError as exc:
        raise InsecureConfig(str(exc)) from None
    values = {}
    for spec in SPECS:
        value = getattr(getattr(settings, spec.section), spec.field).get_secret_value()
        values[spec.env] = value or new_secret()
    return values
