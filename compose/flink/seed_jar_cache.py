"""Build step of the Flink image: put the Kafka connector from Flink's lib/ into fraudctl's
jar cache (the layout of fraudctl/stack/jars.py), so that fraudctl code in the container
finds the jars it would otherwise fetch with mvn, which the image does not have.

    python3 seed_jar_cache.py /opt/flink/lib      # cache dir: the jars_dir setting
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from foundation.settings import get_settings
from fraudctl.stack.jars import cached_jars, pom_digest

CONNECTOR_GLOB = "flink-sql-connector-kafka-*.jar"


def seed(lib_dir: Path, cache_dir: Path) -> Path:
    """Copy the connector into cache_dir/<pom digest>/flink-lib and mark it complete."""
    connectors = sorted(lib_dir.glob(CONNECTOR_GLOB))
    if not connectors:
        raise SystemExit(f"no {CONNECTOR_GLOB} in {lib_dir}: the jars stage did not run")
    root = cache_dir / pom_digest()
    (root / "flink-lib").mkdir(parents=True, exist_ok=True)
    (root / "kafka-libs").mkdir(exist_ok=True)  # the broker's jars: not needed in the image
    for jar in connectors:
        shutil.copy2(jar, root / "flink-lib" / jar.name)
    (root / "COMPLETE").write_text(pom_digest())
    if cached_jars(cache_dir) is None:
        raise SystemExit(f"{root} is not a jar cache fraudctl.stack.jars accepts")
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: seed_jar_cache.py FLINK_LIB_DIR")
    print(seed(Path(sys.argv[1]), get_settings().jars_dir.expanduser()))
