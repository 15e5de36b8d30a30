"""Hot reload: the scoring function follows the model registry's `current` version.

Every scoring subtask looks at `ModelRegistry(artifacts_dir).current_version()` (one small
file read) at most every `check_every_ms` of processing time, from inside its own
`process_element`/`on_timer`. When the version changed it loads that version and swaps the
detector between two transactions: nothing is restarted, no keyed state is touched, every
transaction is scored exactly once, by the model that was current when it was scored
(decisions and alerts carry `model_version`).

The registry directory must be readable where the TaskManagers run: the local stack runs
them on this host; compose/Kubernetes must mount the artifacts directory into the
TaskManager containers (a shared volume). When there is no registry version (or it cannot
be read) the job scores with the model shipped inside the job graph (`ModelPackage`), as
before. Which version each subtask scores with is published to a Redis hash (field =
subtask index, value = version) so tools can wait for a rollout to finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from models.detector import Detector

log = logging.getLogger(__name__)

CHECK_EVERY_MS = 3_000
# After a failed record (Redis down) the next attempt waits this long: a connect timeout
# on every check would stall scoring.
PUBLISH_RETRY_MS = 30_000
ACTIVE_MODELS_KEY = "fraud:model:active"


class Registry(Protocol):
    def current_version(self) -> str | None: ...
    def load(self, version: str) -> Any: ...


Publisher = Callable[[str], None]


@dataclass(frozen=True)
class ActiveModelTarget:
    """Where the active version per subtask is recorded (the alert sink's Redis)."""

    host: str
    port: int
    key: str = ACTIVE_MODELS_KEY


def redis_publisher(target: ActiveModelTarget, subtask: int) -> Publisher:
    """`publish(version)`: HSET key subtask version (a short timeout; errors propagate)."""
    from foundation.redis_client import sync_client

    client = sync_client(
        host=target.host, port=target.port, socket_timeout=1, socket_connect_timeout=1
    )

    def publish(version: str) -> None:
        client.hset(target.key, str(subtask), version)

    return publish


def open_registry(artifacts_dir: str) -> Registry | None:
    """The model registry of `artifacts_dir` (None if this build has no registry module)."""
    try:
        from models.registry import ModelRegistry  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    registry: Registry = ModelRegistry(Path(artifacts_dir))
    return registry


def as_detector(loaded: Any) -> Detector:
    """What `ModelRegistry.load` returns, as the Detector the scorer calls."""
    if isinstance(loaded, Detector):
        return loaded
    make = getattr(loaded, "detector", None)
    if callable(make):
        made = make()
        if isinstance(made, Detector):
            return made
    raise TypeError(f"the registry returned {type(loaded).__name__}, not a model")


class ModelSwitch:
    """The detector a subtask scores with, and when to look for a new one."""

    def __init__(
        self,
        registry: Registry | None,
        fallback: Callable[[], Detector],
        publish: Publisher | None = None,
        check_every_ms: int = CHECK_EVERY_MS,
    ) -> None:
        self.registry = registry
        self.fallback = fallback
        self.publish = publish
        self.check_every_ms = check_every_ms
        self.detector: Detector | None = None
        self.version: str | None = None  # the registry version in use (None: fallback)
        self.failed: str | None = None  # a registry version that could not be loaded
        self.published: str | None = None
        self.warned: set[str] = set()
        self.next_check_ms = 0
        self.next_publish_ms = 0

    def start(self, now_ms: int) -> Detector:
        """The detector to begin with: the registry's current version, else the package."""
        self.next_check_ms = 0
        if self.maybe_reload(now_ms) is None:
            self.detector = self.fallback()
            self.version = None
            self._publish(now_ms)
        assert self.detector is not None
        return self.detector

    def maybe_reload(self, now_ms: int) -> Detector | None:
        """The new detector when the registry's current version changed (else None).

        Cheap when not due (one comparison); never raises: a broken registry or model keeps
        the detector in use (and is logged once per version).
        """
        if now_ms < self.next_check_ms:
            return None
        self.next_check_ms = now_ms + self.check_every_ms
        if self.published != self._active_version() and now_ms >= self.next_publish_ms:
            self._publish(now_ms)
        if self.registry is None:
            return None
        try:
            current = self.registry.current_version()
        except LookupError:  # the registry has no current version: keep what is in use
            return None
        except Exception as error:  # an unreadable pointer file must not stop scoring
            self._warn_once(f"pointer:{error}", f"model registry unreadable: {error}")
            return None
        if not current or current == self.version or current == self.failed:
            return None
        try:
            detector = as_detector(self.registry.load(current))
        except Exception as error:
            self.failed = current
            log.warning("model %s could not be loaded (%s); keeping %s", current, error,
                        self._active_version())  # fmt: skip
            return None
        self.detector, self.version, self.failed = detector, current, None
        log.info("scoring with model %s (%s)", current, detector.model_version)
        self._publish(now_ms)
        return detector

    def _active_version(self) -> str | None:
        """The registry version in use, else the packaged model's own version."""
        if self.version is not None:
            return self.version
        return self.detector.model_version if self.detector is not None else None

    def _publish(self, now_ms: int) -> None:
        version = self._active_version()
        if self.publish is None or version is None:
            return
        try:
            self.publish(version)
        except Exception as error:  # Redis down: retried at the next check
            key = f"publish:{type(error).__name__}"
            self._warn_once(key, f"active model not recorded: {error}")
            self.next_publish_ms = now_ms + PUBLISH_RETRY_MS
            return
        self.published = version

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self.warned and len(self.warned) < 100:
            self.warned.add(key)
            log.warning(message)
