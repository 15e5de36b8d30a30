"""Redis: alerts stream and labels, data under the state dir, loopback only."""

from __future__ import annotations

import redis

from fraudctl.stack.components.base import Component
from fraudctl.stack.prereqs import check_redis_server


class RedisComponent(Component):
    name = "redis"
    health_timeout_s = 30.0

    def ports(self) -> list[tuple[str, int]]:
        return [(self.settings.redis.host, self.settings.redis.port)]

    def prepare(self) -> None:
        self.paths.data(self.name).mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        cfg = self.settings.redis
        return [
            check_redis_server(cfg.server_binary),
            "--bind", cfg.host,
            "--port", str(cfg.port),
            "--dir", str(self.paths.data(self.name)),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--appendonly", "yes",
            "--save", "60 1",
            "--logfile", "",
        ]  # fmt: skip

    def probe(self, log_since_start: str) -> str | None:
        cfg = self.settings.redis
        try:
            client = redis.Redis(host=cfg.host, port=cfg.port, socket_timeout=1)
            client.ping()
            client.close()
        except redis.RedisError as exc:
            return f"PING failed: {exc}"
        return None

    def url(self) -> str | None:
        return self.settings.redis.url

    def port_flag(self) -> str:
        return "--redis-port or FRAUDCTL_REDIS__PORT"
