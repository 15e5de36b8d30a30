"""Images are built from files in the repo or pinned by version; versions agree everywhere."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyflink.version
import pytest
import yaml

from foundation.settings import REPO_ROOT
from fraudctl.stack.jars import POM
from tests.unit.compose.helpers import K8S_FILE, dockerfile_of, from_images, services

PINNED_TAG = re.compile(r"^v?\d+(\.\d+)+([.-][\w.-]+)?$")


def tag_of(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    assert "@" not in name or name.split("@", 1)[1].startswith("sha256:"), image
    assert ":" in name, f"{image} has no tag: pin a version"
    return name.split(":", 1)[1].split("@", 1)[0]


def assert_pinned(image: str) -> None:
    tag = tag_of(image)
    assert tag != "latest", f"{image}: `latest` is not a version"
    assert PINNED_TAG.match(tag), f"{image}: tag {tag!r} does not start with a version"


def built_services() -> dict[str, Path]:
    return {n: dockerfile_of(s) for n, s in services().items() if "build" in s}


def pom_property(name: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find(f"m:properties/m:{name}", ns)
    assert node is not None and node.text, name
    return node.text


def flink_image_version() -> str:
    dockerfile = REPO_ROOT / "compose" / "flink" / "Dockerfile"
    (version,) = [
        m.group(1)
        for image, _ in from_images(dockerfile)
        if (m := re.match(r"^flink:(\d+\.\d+\.\d+)-scala_2\.12-java17$", image))
    ]
    return version


@pytest.mark.parametrize("service", sorted(services()))
def test_every_image_is_built_from_the_repo_or_pinned(service: str) -> None:
    spec = services()[service]
    assert_pinned(spec["image"])
    if "build" in spec:
        assert dockerfile_of(spec).is_file(), f"{service}: {dockerfile_of(spec)} is missing"


@pytest.mark.parametrize("service", sorted(built_services()))
def test_dockerfiles_start_from_pinned_images_or_earlier_stages(service: str) -> None:
    stages: set[str] = set()
    froms = from_images(built_services()[service])
    assert froms
    for image, alias in froms:
        if image not in stages:
            assert_pinned(image)
        if alias:
            stages.add(alias)


def test_services_sharing_an_image_name_share_its_build() -> None:
    by_image: dict[str, set[str]] = {}
    for spec in services().values():
        if "build" in spec:
            by_image.setdefault(spec["image"], set()).add(repr(sorted(spec["build"].items())))
    assert by_image and all(len(builds) == 1 for builds in by_image.values())


@pytest.mark.parametrize("service", sorted(built_services()))
def test_dockerfile_copies_only_files_that_exist_and_the_build_context_sends(
    service: str,
) -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    sent = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    text = built_services()[service].read_text().replace("\\\n", " ")
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].upper() != "COPY" or any(p.startswith("--from") for p in parts):
            continue
        for source in parts[1:-1]:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repo"
            assert source.split("/", 1)[0] in sent, f"COPY {source}: .dockerignore drops it"


def test_flink_image_pyflink_and_connector_versions_agree() -> None:
    version = flink_image_version()
    dockerfile = (REPO_ROOT / "compose" / "flink" / "Dockerfile").read_text()
    assert f"ARG PYFLINK_VERSION={version}\n" in dockerfile
    assert pyflink.version.__version__ == version, "the venv's PyFlink differs from the image"
    major_minor = ".".join(version.split(".")[:2])
    connector = pom_property("flink.kafka.connector.version")
    assert connector.endswith(f"-{major_minor}"), f"connector {connector} is not for {major_minor}"
    assert "COPY fraudctl/stack/pom.xml" in dockerfile, "the connector must come from our pom"


def test_kubernetes_manifest_runs_the_compose_image_with_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = list(yaml.safe_load_all(K8S_FILE.read_text()))
    (deployment,) = [d for d in docs if d["kind"] == "FlinkDeployment"]
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    spec = deployment["spec"]
    version = flink_image_version()
    assert spec["image"] == services()["jobmanager"]["image"]
    assert spec["flinkVersion"] == "v" + "_".join(version.split(".")[:2])
    job = spec["job"]
    assert job["jarURI"] == f"local:///opt/flink/opt/flink-python-{version}.jar"
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    flag, module = job["args"]
    assert flag == "-pym" and (REPO_ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    assert job["upgradeMode"] == "last-state"
    assert spec["flinkConfiguration"]["high-availability.type"] == "kubernetes"
    (container,) = spec["podTemplate"]["spec"]["containers"]
    assert container["name"] == "flink-main-container"
    for item in container["env"]:
        monkeypatch.setenv(item["name"], item["value"])
    from foundation.settings import Settings

    inside = Settings()
    assert inside.flink.job_name == "Stateful Fraud Detection with Redis Alerts"
    assert inside.job.parallelism == job["parallelism"]
    assert inside.redis.alerts_stream == "fraud:alerts"
    assert inside.kafka.transactions_topic == "transactions"
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    volumes = spec["podTemplate"]["spec"]["volumes"]
    assert {v["persistentVolumeClaim"]["claimName"] for v in volumes} <= claims
