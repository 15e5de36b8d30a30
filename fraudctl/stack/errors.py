"""Errors of the local stack, each carrying the fix an operator should apply."""

from __future__ import annotations


class StackError(Exception):
    """A stack problem an operator can act on; `str()` says what is wrong and the fix."""


class PrerequisiteMissing(StackError):
    """A tool the stack needs (java, mvn, redis-server) is missing or too old."""


class JarFetchFailed(StackError):
    """Maven could not fetch the broker or connector jars."""


class PortInUse(StackError):
    """A port a component needs is already taken by another process."""


class HealthCheckFailed(StackError):
    """A component started but did not become healthy within its timeout."""


class UnknownComponent(StackError):
    """A component name that the stack does not have."""
