"""Reading compose/ the way Docker Compose does, for static checks without an engine."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from foundation.settings import REPO_ROOT

COMPOSE_DIR = REPO_ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
K8S_FILE = COMPOSE_DIR / "k8s" / "flinkdeployment.yaml"

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `$$`, applied to every string."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group("name"), match.group("default")
            found = env.get(name, "")
            return found if found or default is None else default

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The services with variables resolved from `env` (defaults when it is empty)."""
    resolved = interpolate(load_compose()["services"], env or {})
    assert isinstance(resolved, dict)
    return resolved


def variables_in_compose() -> dict[str, str | None]:
    """Every `${NAME:-default}` of the compose file: name -> default (None if it has none)."""
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(COMPOSE_FILE.read_text()):
        if match["name"]:
            assert found.get(match["name"], match["default"]) == match["default"], match[0]
            found[match["name"]] = match["default"]
    return found


def dockerfile_of(service: dict[str, Any]) -> Path:
    build = service["build"]
    return (COMPOSE_DIR / str(build["context"]) / str(build["dockerfile"])).resolve()


def from_images(dockerfile: Path) -> list[tuple[str, str | None]]:
    """(image, stage alias) of every FROM line."""
    result = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts and parts[0].upper() == "FROM":
            args = [p for p in parts[1:] if not p.startswith("--")]
            alias = args[2] if len(args) >= 3 and args[1].upper() == "AS" else None
            result.append((args[0], alias))
    return result


def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
