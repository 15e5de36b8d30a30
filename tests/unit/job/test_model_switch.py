"""Hot reload: when the scorer looks at the registry, what it swaps, and what it records."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from flink_job.model import ModelPackage
from flink_job.model_switch import PUBLISH_RETRY_MS, ModelSwitch, as_detector
from models.detector import Detector
from models.registry import NoModel
from tests.fixtures.job import repo_package


@dataclass
class FakeRegistry:
    """A registry whose current version and models the test sets."""

    models: dict[str, Detector]
    current: str | None = None
    reads: int = 0
    loads: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def current_version(self) -> str:
        self.reads += 1
        if self.current is None:
            raise NoModel("no current model")
        return self.current

    def load(self, version: str) -> Detector:
        self.loads.append(version)
        if version in self.broken:
            raise NoModel(f"model {version} cannot be used")
        return self.models[version]


@pytest.fixture(scope="module")
def package() -> ModelPackage:
    return repo_package()


def named(package: ModelPackage, version: str) -> Detector:
    detector = package.detector()
    detector.model_version = version
    return detector


def test_it_starts_with_the_registry_version_and_records_it(package: ModelPackage) -> None:
    registry = FakeRegistry({"v1": named(package, "v1")}, current="v1")
    published: list[str] = []
    switch = ModelSwitch(registry, package.detector, published.append, check_every_ms=3_000)
    detector = switch.start(now_ms=1_000)
    assert detector.model_version == "v1" and switch.version == "v1"
    assert published == ["v1"]


def test_without_a_registry_version_the_packaged_model_scores(package: ModelPackage) -> None:
    published: list[str] = []
    switch = ModelSwitch(FakeRegistry({}), package.detector, published.append)
    detector = switch.start(now_ms=0)
    assert detector.model_version == package.model_version and switch.version is None
    assert published == [package.model_version]
    assert ModelSwitch(None, package.detector).start(0).model_version == package.model_version


def test_it_looks_at_most_every_interval_and_swaps_when_current_changes(
    package: ModelPackage,
) -> None:
    registry = FakeRegistry({"v1": named(package, "v1"), "v2": named(package, "v2")}, "v1")
    published: list[str] = []
    switch = ModelSwitch(registry, package.detector, published.append, check_every_ms=3_000)
    switch.start(now_ms=10_000)
    reads = registry.reads
    registry.current = "v2"
    assert switch.maybe_reload(11_000) is None and registry.reads == reads  # not due yet
    swapped = switch.maybe_reload(13_000)
    assert swapped is not None and swapped.model_version == "v2"
    assert switch.detector is swapped and published == ["v1", "v2"]
    assert switch.maybe_reload(16_000) is None and registry.loads == ["v1", "v2"]


def test_a_broken_version_keeps_the_model_in_use_and_is_not_reloaded_each_time(
    package: ModelPackage,
) -> None:
    registry = FakeRegistry({"v1": named(package, "v1")}, "v1", broken={"v2"})
    switch = ModelSwitch(registry, package.detector, None, check_every_ms=1_000)
    switch.start(now_ms=0)
    registry.current = "v2"
    assert switch.maybe_reload(1_000) is None and switch.maybe_reload(2_000) is None
    assert switch.detector is not None and switch.detector.model_version == "v1"
    assert registry.loads == ["v1", "v2"]


def test_a_failed_record_of_the_active_version_is_retried(package: ModelPackage) -> None:
    calls: list[str] = []

    def flaky(version: str) -> None:
        calls.append(version)
        if len(calls) == 1:
            raise ConnectionError("redis is down")

    switch = ModelSwitch(FakeRegistry({}), package.detector, flaky, check_every_ms=1_000)
    switch.start(now_ms=0)
    assert switch.published is None
    switch.maybe_reload(1_000)  # not yet: a down Redis is not asked on every check
    assert switch.published is None and len(calls) == 1
    switch.maybe_reload(PUBLISH_RETRY_MS)
    assert switch.published == package.model_version and len(calls) == 2


def test_as_detector_refuses_what_is_not_a_model(package: ModelPackage) -> None:
    assert as_detector(package).model_version == package.model_version
    with pytest.raises(TypeError):
        as_detector("not a model")
