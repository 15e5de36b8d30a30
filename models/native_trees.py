"""A model's trees as code: generated Python at once, native code once the host's C
compiler has built it.

The generated Python (`python_trees`) costs ~11 µs for the Isolation
Forest (100 trees, ~38,000 nodes) in one process; the same nested comparisons written as
C and built with `-O1` take ~1.4 µs, and the whole job scores ~1.15x faster with them
(BENCHMARKS.md, "Where the rest goes"). No fast-math:
each `x <= split` is the same double comparison and the leaf values are added in the
same order, so the native sum equals the Python one bit for bit.

Building takes a few seconds, so it runs on a background thread while the Python trees
score; the switch happens only once the library has given exactly the Python sums on
probe vectors (every split value itself among them). No compiler, a failed build or any
difference: the Python trees stay, and one warning says why.

The C source is generated from validated numbers (ints and finite floats) like the Python,
and built into this user's private cache directory; no library is ever read from a model
directory, so a model file still cannot carry code.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import random
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FUNCTION = "tree_sum"
# No fast-math and no fused multiply-add: each comparison and addition as Python does it.
CFLAGS = ("-O1", "-ffp-contract=off", "-shared", "-fPIC")
BUILD_TIMEOUT_S = 180.0
PROBES = 64
# Set to "0" to keep the Python trees (e.g. to compare the two in a benchmark).
NATIVE_ENV = "FRAUDCTL_NATIVE_TREES"
CACHE_ENV = "FRAUDCTL_NATIVE_TREES_DIR"

PythonTrees = Callable[..., float]
Tree = tuple[Sequence[int], Sequence[int], Sequence[int], Sequence[float], Sequence[float]]
Trees = Sequence[Tree]


class TreeSum:
    """Sum of the trees' leaf values for one vector: Python now, native once built."""

    def __init__(self, trees: Trees, width: int, *, native: bool = True):
        self.python = python_trees(trees, width)
        self.width = width
        self.kind = "python"
        self._python_only = False
        self.total: Callable[[Sequence[float]], float] = self._python_total
        self.settled = threading.Event()  # set when the native build ended either way
        if not native or os.environ.get(NATIVE_ENV) == "0" or compiler() is None:
            self.settled.set()
            return
        build = threading.Thread(target=self._build, args=(trees,), name="native-trees")
        build.daemon = True
        build.start()

    def keep_python(self) -> None:
        """Score with the Python trees from now on, built or not (to compare the two)."""
        self._python_only = True
        self.total = self._python_total
        self.kind = "python"

    def _python_total(self, x: Sequence[float]) -> float:
        return self.python(*x)

    def wait_settled(self, timeout_s: float = BUILD_TIMEOUT_S) -> str:
        """Wait for the background build (tests, benchmarks); "native" or "python"."""
        self.settled.wait(timeout_s)
        return self.kind

    def _build(self, trees: Trees) -> None:
        try:
            source = c_source(trees)
            native = load_native(source, self.width)
            for x in probe_vectors(trees, self.width):
                if native(x) != self.python(*x):
                    raise NativeTreesError(f"native sum differs from Python's on {x}")
            if not self._python_only:
                self.total = native
                self.kind = "native"
                log.info(
                    "model trees native (%d lines of C, %d probes equal)",
                    source.count("\n"),
                    PROBES,
                )
        except (NativeTreesError, OSError, subprocess.SubprocessError) as error:
            log.warning("model trees stay in Python (same results, slower): %s", error)
        finally:
            self.settled.set()


class NativeTreesError(RuntimeError):
    """The native trees could not be built or do not match the Python ones."""


def python_trees(trees: Trees, width: int) -> PythonTrees:
    """One function `(x0, ..., xn) -> sum of the trees' leaf values`, in sklearn's order."""
    params = ", ".join(f"x{i}" for i in range(width))
    lines = [f"def depth_sum({params}):", " d = 0.0"]
    for tree in trees:
        _emit_python_tree(tree, lines)
    lines.append(" return d")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<model-trees>", "exec"), namespace)
    function: PythonTrees = namespace["depth_sum"]
    return function


def _emit_python_tree(tree: Tree, lines: list[str]) -> None:
    left, right, feature, split, leaf_value = tree
    stack: list[tuple[int, int, bool]] = [(0, 1, False)]  # (node, indent, is_else_branch)
    while stack:
        node, indent, as_else = stack.pop()
        pad = " " * indent
        if as_else:
            lines.append(pad[:-1] + "else:")
        if left[node] < 0:
            lines.append(f"{pad}d += {float(leaf_value[node])!r}")
            continue
        lines.append(f"{pad}if x{int(feature[node])} <= {float(split[node])!r}:")
        stack.append((right[node], indent + 1, True))
        stack.append((left[node], indent + 1, False))


def compiler() -> str | None:
    """The C compiler to use: $CC, else `cc` on PATH; None when there is none."""
    return shutil.which(os.environ.get("CC", "cc"))


def c_source(trees: Trees) -> str:
    """`double tree_sum(const double *x)`: every tree's nested comparisons, in order."""
    lines = [f"double {FUNCTION}(const double *x) {{", "double d = 0.0;"]
    for left, right, feature, split, leaf_value in trees:
        stack: list[int | str] = [0]  # a node to write, or text to write as it is
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                lines.append(item)
            elif left[item] < 0:
                lines.append(f"d += {_c_double(leaf_value[item])};")
            else:
                lines.append(f"if (x[{int(feature[item])}] <= {_c_double(split[item])}) {{")
                stack.extend(("}", int(right[item]), "} else {", int(left[item])))
    lines.extend(("return d;", "}"))
    return "\n".join(lines)


def _c_double(value: float) -> str:
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise NativeTreesError(f"non-finite number {number} in a tree")
    return repr(number)  # shortest text that reads back as exactly this double


def probe_vectors(trees: Trees, width: int, count: int = PROBES) -> list[list[float]]:
    """Vectors that reach many leaves: split values themselves (the `<=` edge), and near them."""
    splits: list[list[float]] = [[] for _ in range(width)]
    for left, _right, feature, split, _leaf in trees:
        for node, child in enumerate(left):
            if child >= 0:
                splits[int(feature[node])].append(float(split[node]))
    rng = random.Random(20261129)
    probes = []
    for index in range(count):
        vector = []
        for values in splits:
            if not values:
                vector.append(0.0)
                continue
            value = rng.choice(values)
            vector.append(value if index % 2 == 0 else value + rng.uniform(-1.0, 1.0) * 1e-3)
        probes.append(vector)
    return probes


def load_native(source: str, width: int) -> Callable[[Sequence[float]], float]:
    """Build (or find already built) and load the library of `source`; its sum function."""
    library = build(source)
    # PyDLL: the call keeps the GIL, so the one input buffer is never shared mid-call by
    # two scoring threads of the same interpreter.
    function: Any = getattr(ctypes.PyDLL(str(library)), FUNCTION)
    function.restype = ctypes.c_double
    function.argtypes = [ctypes.c_void_p]
    buffer: Any = (ctypes.c_double * width)()
    address = ctypes.addressof(buffer)

    def native(x: Sequence[float]) -> float:
        buffer[:] = x
        result: float = function(address)
        return result

    return native


def build(source: str) -> Path:
    """The library of `source` in the private cache, built once per source (locked)."""
    cc = compiler()
    if cc is None:
        raise NativeTreesError("no C compiler (cc or $CC) on this host")
    digest = hashlib.sha256(" ".join(CFLAGS).encode() + source.encode()).hexdigest()[:24]
    directory = cache_dir()
    library = directory / f"trees-{digest}.so"
    with open(directory / f"trees-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same
        if library.is_file():
            return library
        with tempfile.TemporaryDirectory(dir=directory) as work:
            c_file = Path(work) / "trees.c"
            c_file.write_text(source)
            built = Path(work) / "trees.so"
            # Niced: a build in a TaskManager runs beside scoring and must not hold it up.
            nice = shutil.which("nice")
            command = [cc, *CFLAGS, "-o", str(built), str(c_file)]
            done = subprocess.run(
                [nice, "-n", "10", *command] if nice else command,
                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise NativeTreesError(f"{cc} failed: {done.stderr.strip()[-500:]}")
            os.replace(built, library)
    return library


def cache_dir() -> Path:
    """This user's private directory for built trees (0700, owned by us, else refused)."""
    configured = os.environ.get(CACHE_ENV)
    directory = (
        Path(configured)
        if configured
        else Path(tempfile.gettempdir()) / f"fraudctl-native-trees-{os.getuid()}"
    )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise NativeTreesError(
            f"{directory} is not private to this user (owner {info.st_uid}, mode "
            f"{oct(info.st_mode & 0o777)}): remove it, or set {CACHE_ENV} to a private directory"
        )
    return directory
