"""Checks for the host tools the local stack needs, each failing with the fix."""

from __future__ import annotations

import re
import shutil
import subprocess

from fraudctl.stack.errors import PrerequisiteMissing

MIN_JAVA = 17


def java_major(version_output: str) -> int | None:
    """The major version from `java -version` output ('17.0.15' -> 17, '1.8.0_392' -> 8)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def check_java() -> str:
    """Path of a java >= 17, or PrerequisiteMissing naming the fix."""
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteMissing(
            "java was not found on PATH. Kafka and Flink need Java 17 or newer: "
            "install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) "
            "or put a JDK 17+ `bin` directory on PATH."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = java_major(out.stderr + out.stdout)
    if major is None or major < MIN_JAVA:
        raise PrerequisiteMissing(
            f"{java} is Java {major or 'of unknown version'}; Kafka 4 and Flink 2 need Java "
            f"{MIN_JAVA} or newer. Install a newer JDK (`apt-get install openjdk-17-jre-headless`)"
            " and put it first on PATH."
        )
    return java


def check_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissing(
            "mvn (Apache Maven) was not found on PATH; fraudctl fetches the Kafka broker and "
            "the Flink Kafka connector with it. Install it (`apt-get install maven`) and retry."
        )
    return mvn


def check_redis_server(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise PrerequisiteMissing(
            f"{binary} was not found on PATH. Install Redis (`apt-get install redis-server`, "
            "which `make demo` and `make test` do for you when run as root) or point "
            "FRAUDCTL_REDIS__SERVER_BINARY at a redis-server binary."
        )
    return path
