"""Container healthcheck of the Flink services: `flink_health.py jobmanager|taskmanager`.

A JobManager is healthy when its REST API answers; a TaskManager when the JobManager lists
it as registered (a TaskManager has no endpoint of its own, and a running process that
never registered offers no slots). Exit 0 when healthy, 1 with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

import httpx

from foundation.settings import get_settings

TIMEOUT_S = 3.0


def own_addresses() -> set[str]:
    """This container's hostname and IP addresses, as a TaskManager reports them."""
    hostname = socket.gethostname()
    addresses = {hostname}
    with contextlib.suppress(OSError):  # no DNS entry for it: the name alone must do
        addresses.update(socket.gethostbyname_ex(hostname)[2])
    return addresses


def taskmanager_registered(payload: dict[str, Any], addresses: set[str]) -> bool:
    """True when one of the JobManager's TaskManagers runs at one of `addresses`.

    Flink names a TaskManager `<address>:<rpc port>-<suffix>` and its RPC path
    `pekko.tcp://flink@<address>:<port>/...`, where address is the IP (or host) it bound.
    """
    for taskmanager in payload.get("taskmanagers", []):
        for field in ("id", "path"):
            value = str(taskmanager.get(field, ""))
            host = value.split("@", 1)[-1].split(":", 1)[0]
            if host in addresses:
                return True
    return False


def check_jobmanager() -> str | None:
    port = get_settings().flink.rest_port
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/overview", timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"REST API on port {port} not answering: {exc}"
    if response.status_code != 200:
        return f"REST /overview answered {response.status_code}"
    return None


def check_taskmanager() -> str | None:
    rest_url = get_settings().flink.rest_url
    try:
        response = httpx.get(f"{rest_url}/taskmanagers", timeout=TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return f"JobManager REST API at {rest_url} not answering: {exc}"
    addresses = own_addresses()
    if not taskmanager_registered(response.json(), addresses):
        return f"not registered with the JobManager at {rest_url} (this container: {addresses})"
    return None


def main(argv: list[str]) -> int:
    checks = {"jobmanager": check_jobmanager, "taskmanager": check_taskmanager}
    if len(argv) != 1 or argv[0] not in checks:
        print("usage: flink_health.py jobmanager|taskmanager", file=sys.stderr)
        return 2
    reason = checks[argv[0]]()
    if reason is not None:
        print(f"{argv[0]} unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
