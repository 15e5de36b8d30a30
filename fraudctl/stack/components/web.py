"""The gateway and the dashboard: uvicorn processes serving apps from `gateway/`."""

from __future__ import annotations

import shutil

import httpx

from foundation.settings import settings_env
from fraudctl.stack.components.base import Component, python_executable


class _UvicornApp(Component):
    health_timeout_s = 90.0

    def _where(self) -> tuple[str, int, str, int]:
        raise NotImplementedError

    def ports(self) -> list[tuple[str, int]]:
        host, port, _app, _workers = self._where()
        return [(host, port)]

    def argv(self) -> list[str]:
        host, port, app, workers = self._where()
        argv = [python_executable(), "-m", "uvicorn", app, "--host", host, "--port", str(port)]
        argv += ["--workers", str(workers), "--no-access-log", "--timeout-graceful-shutdown", "10"]
        if app.endswith(("create_app", "_factory")):
            argv.append("--factory")
        return argv

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(settings_env(self.settings))
        return env

    def probe(self, log_since_start: str) -> str | None:
        host, port, _app, _workers = self._where()
        try:
            response = httpx.get(f"http://{host}:{port}/healthz", timeout=2)
        except httpx.HTTPError as exc:
            return f"/healthz not answering: {exc}"
        if response.status_code != 200:
            return f"/healthz answered {response.status_code}: {response.text[:200]}"
        return None


class GatewayComponent(_UvicornApp):
    name = "gateway"

    def _where(self) -> tuple[str, int, str, int]:
        cfg = self.settings.gateway
        return cfg.host, cfg.port, cfg.app, cfg.workers

    def argv(self) -> list[str]:
        # Idle connections outlive every client's own idle limit, so no client ever sends on
        # a connection the gateway is closing (that request would be lost in flight).
        return [*super().argv(), "--timeout-keep-alive", str(self.settings.gateway.keep_alive_s)]

    def env(self) -> dict[str, str]:
        env = super().env()
        # Several workers share their metrics through files in a directory that must start empty.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.settings.gateway.workers > 1:
            shared = self.paths.data("gateway") / "prometheus-multiproc"
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
        return env

    def url(self) -> str | None:
        return self.settings.gateway.url

    def port_flag(self) -> str:
        return "--gateway-port / FRAUDCTL_GATEWAY__PORT"


class DashboardComponent(_UvicornApp):
    name = "dashboard"

    def _where(self) -> tuple[str, int, str, int]:
        cfg = self.settings.dashboard
        return cfg.host, cfg.port, cfg.app, 1

    def url(self) -> str | None:
        return self.settings.dashboard.url

    def port_flag(self) -> str:
        return "--dashboard-port / FRAUDCTL_DASHBOARD__PORT"
