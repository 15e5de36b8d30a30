"""The local stack: Kafka, Redis, Flink, gateway and dashboard as processes on this host."""

from foundation.flink_rest import FlinkJob
from fraudctl.stack.errors import (
    HealthCheckFailed,
    JarFetchFailed,
    PortInUse,
    PrerequisiteMissing,
    StackError,
    UnknownComponent,
)
from fraudctl.stack.manager import (
    COMPONENT_NAMES,
    ComponentStatus,
    StackEvent,
    StackManager,
)

__all__ = [
    "COMPONENT_NAMES",
    "ComponentStatus",
    "FlinkJob",
    "HealthCheckFailed",
    "JarFetchFailed",
    "PortInUse",
    "PrerequisiteMissing",
    "StackError",
    "StackEvent",
    "StackManager",
    "UnknownComponent",
]
