"""JVM dependencies from Maven Central, fetched once with `mvn` into a cache and reused.

The pom beside this file pins every version. The cache is keyed by the pom's hash, so
changing a version fetches again and never mixes jars of two versions.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fraudctl.stack.errors import JarFetchFailed
from fraudctl.stack.prereqs import check_maven

POM = Path(__file__).with_name("pom.xml")


@dataclass(frozen=True)
class Jars:
    kafka_libs: Path
    flink_lib: Path

    @property
    def kafka_classpath(self) -> str:
        return f"{self.kafka_libs}/*"

    @property
    def kafka_connector(self) -> Path:
        return next(self.flink_lib.glob("flink-sql-connector-kafka-*.jar"))


def pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()[:16]


def cached_jars(cache_dir: Path) -> Jars | None:
    """The cached jars for the current pom, or None when they must be fetched."""
    root = cache_dir / pom_digest()
    jars = Jars(root / "kafka-libs", root / "flink-lib")
    if (root / "COMPLETE").exists() and any(jars.flink_lib.glob("*.jar")):
        return jars
    return None


def ensure_jars(cache_dir: Path, quiet: bool = True) -> Jars:
    """Return the jars, running `mvn package` on the pom first when they are not cached."""
    found = cached_jars(cache_dir)
    if found is not None:
        return found
    mvn = check_maven()
    root = cache_dir / pom_digest()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fraudctl-mvn-", dir=cache_dir) as tmp:
        work = Path(tmp)
        shutil.copy(POM, work / "pom.xml")
        argv = [mvn, "-B", "package", f"-Djars.dir={work / 'jars'}"]
        if quiet:
            argv.insert(2, "-q")
        result = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
            raise JarFetchFailed(
                "mvn could not fetch the Kafka broker and Flink connector jars "
                f"(exit {result.returncode}). Check that Maven can reach its repository "
                f"(proxy settings in ~/.m2/settings.xml), then retry.\n{tail}"
            )
        if root.exists():
            shutil.rmtree(root)
        shutil.move(str(work / "jars"), root)
    (root / "COMPLETE").write_text(pom_digest())
    found = cached_jars(cache_dir)
    if found is None:
        raise JarFetchFailed(f"mvn finished but no jars were found under {root}")
    return found
