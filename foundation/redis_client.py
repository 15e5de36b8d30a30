"""The one way to open a Redis client: password, ACL user and TLS from the settings.

Every Redis client of the code base (job, dashboard, console, CLI, simulator) is built
here, so none of them can forget the password the stack's Redis requires. `host`/`port`
may be passed explicitly (the job pickles them into its graph); credentials and TLS always
come from the process's settings, so a password never travels inside a job graph.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from foundation.settings import RedisSettings, get_settings


def connection_options(cfg: RedisSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for redis-py: credentials and TLS (no host/port)."""
    cfg = cfg if cfg is not None else get_settings().redis
    options: dict[str, Any] = {}
    password = cfg.password.get_secret_value()
    if password:
        options["password"] = password
    if cfg.username:
        options["username"] = cfg.username
    if cfg.tls:
        options["ssl"] = True
        options["ssl_cert_reqs"] = "required"
        if cfg.tls_ca is not None:
            options["ssl_ca_certs"] = str(cfg.tls_ca)
    return options


def sync_client(
    cfg: RedisSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    **kwargs: Any,
) -> redis.Redis:
    """A blocking client for `cfg` (default: the process settings' Redis)."""
    cfg = cfg if cfg is not None else get_settings().redis
    return redis.Redis(
        host=host if host is not None else cfg.host,
        port=port if port is not None else cfg.port,
        **connection_options(cfg),
        **kwargs,
    )


def async_client(
    cfg: RedisSettings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    **kwargs: Any,
) -> aioredis.Redis:
    """An asyncio client for `cfg` (default: the process settings' Redis)."""
    cfg = cfg if cfg is not None else get_settings().redis
    return aioredis.Redis(
        host=host if host is not None else cfg.host,
        port=port if port is not None else cfg.port,
        **connection_options(cfg),
        **kwargs,
    )
