from __future__ import annotations

from pathlib import Path

import pytest

from fraudctl.stack import jars
from fraudctl.stack.errors import PrerequisiteMissing


def test_cache_is_keyed_by_the_pom(tmp_path: Path) -> None:
    assert jars.cached_jars(tmp_path) is None
    root = tmp_path / jars.pom_digest()
    (root / "flink-lib").mkdir(parents=True)
    (root / "kafka-libs").mkdir()
    (root / "flink-lib" / "flink-sql-connector-kafka-5.0.0-2.2.jar").write_bytes(b"")
    assert jars.cached_jars(tmp_path) is None  # not marked complete: a half fetch
    (root / "COMPLETE").write_text("x")
    found = jars.cached_jars(tmp_path)
    assert found is not None
    assert found.kafka_connector.name.startswith("flink-sql-connector-kafka")


def test_pom_pins_every_version() -> None:
    text = jars.POM.read_text()
    assert "<kafka.version>4." in text
    assert "<flink.kafka.connector.version>5.0.0-2.2<" in text
    assert "LATEST" not in text and "RELEASE" not in text


def test_missing_maven_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrerequisiteMissing, match="mvn"):
        jars.ensure_jars(tmp_path / "cache")


def test_kafka_cluster_ids_never_look_like_flags() -> None:
    from fraudctl.stack.components.kafka import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
