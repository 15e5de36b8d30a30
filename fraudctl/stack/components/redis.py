"""Redis: alerts stream and labels, data under the state dir, loopback only."""

from __future__ import annotations

from pathlib import Path

import redis

from foundation.redis_client import sync_client
from fraudctl.stack.components.base import Component
from fraudctl.stack.hardening import write_auth_conf
from fraudctl.stack.prereqs import check_redis_server


class RedisComponent(Component):
    name = "redis"
    health_timeout_s = 30.0

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.redis.host, self.settings.redis.port)]

    def prepare(self) -> None:
        self.paths.data(self.name).mkdir(parents=True, exist_ok=True)
        write_auth_conf(self.settings.redis, self._auth_conf)

    @property
    def _auth_conf(self) -> Path:
        return self.paths.conf(self.name) / "auth.conf"

    def argv(self) -> list[str]:
        cfg = self.settings.redis
        return [
            check_redis_server(cfg.server_binary),
            str(self._auth_conf),  # requirepass, kept off the command line
            "--maxmemory", cfg.maxmemory,
            "--maxmemory-policy", cfg.maxmemory_policy,
            "--bind", cfg.host,
            "--port", str(cfg.port),
            "--dir", str(self.paths.data(self.name)),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--appendonly", "yes",
            # fsync every write: an alert acknowledged to Flink survives kill -9 / power loss
            # (+0.2 ms per alert write here, p99 < 1 ms; docs/operator-guide.md, supervision).
            "--appendfsync", "always",
            "--save", "60 1",
            "--logfile", "",
        ]  # fmt: skip

    def probe(self, log_since_start: str) -> str | None:
        cfg = self.settings.redis
        try:
            client = sync_client(cfg, socket_timeout=1)
            client.ping()
            client.close()
        except redis.RedisError as exc:
            return f"PING failed: {exc}"
        return None

    def url(self) -> str | None:
        return self.settings.redis.url

    def port_flag(self) -> str:
        return "--redis-port or FRAUDCTL_REDIS__PORT"
