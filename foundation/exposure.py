"""Which hosts count as "this machine only", and refusing to serve beyond it without auth.

A service bound to loopback is reachable by local processes only (and by web pages through
DNS rebinding, which the Host/Origin checks stop). Anything else puts it on a network:
then an API key or token must be enforced, or the service refuses to start.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class ExposedWithoutAuth(ValueError):
    """A service would listen beyond loopback with authentication off."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for 0.0.0.0, :: and real addresses."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(service: str, host: str, require_auth: bool, section: str) -> None:
    """Raise when `service` would bind a non-loopback `host` without enforcing auth."""
    if require_auth or is_loopback(host):
        return
    prefix = f"FRAUDCTL_{section.upper()}__"
    raise ExposedWithoutAuth(
        f"the {service} would listen on {host}, beyond this machine, without authentication. "
        f"Either set {prefix}REQUIRE_AUTH=true (clients then need the generated key: "
        f"`fraudctl secrets show`), or bind it to loopback with {prefix}HOST=127.0.0.1."
    )
