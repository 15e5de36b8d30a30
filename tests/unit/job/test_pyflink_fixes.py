"""The thread-mode fixes: timer side outputs of a keyed broadcast function, subtask index."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from flink_job import pyflink_fixes

TAG = object()


def fake_pyflink(monkeypatch: pytest.MonkeyPatch) -> type:
    """Stand-ins for the two PyFlink worker modules `install` patches."""

    class TwoInputOperation:
        def __init__(self, open_func: Any, close_func: Any, pe1: Any, pe2: Any,
                     on_timer_func: Any = None) -> None:  # fmt: skip
            self.on_timer_func = on_timer_func

    functions = types.SimpleNamespace(KEYED_CO_BROADCAST_PROCESS=7, KEYED_CO_PROCESS=5)
    pb2 = types.ModuleType("pyflink.fn_execution.flink_fn_execution_pb2")
    pb2.UserDefinedDataStreamFunction = functions  # type: ignore[attr-defined]
    operations = types.ModuleType("pyflink.fn_execution.datastream.embedded.operations")
    operations.TwoInputOperation = TwoInputOperation  # type: ignore[attr-defined]
    package = types.ModuleType("pyflink.fn_execution.datastream.embedded")
    package.operations = operations  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, pb2.__name__, pb2)
    monkeypatch.setitem(sys.modules, operations.__name__, operations)
    monkeypatch.setitem(sys.modules, package.__name__, package)
    # `from pyflink.fn_execution import flink_fn_execution_pb2` reads the package's
    # attribute first: once any test imported the real module (e.g. via flink_job.functions),
    # the stand-in in sys.modules alone would not be seen.
    import pyflink.fn_execution

    monkeypatch.setattr(pyflink.fn_execution, "flink_fn_execution_pb2", pb2, raising=False)
    return TwoInputOperation


def timer(timestamp: int) -> Iterator[Any]:
    yield ("decision", timestamp)
    yield (TAG, "alert")


def test_timer_results_of_a_keyed_broadcast_function_reach_their_side_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operation = fake_pyflink(monkeypatch)
    assert pyflink_fixes.install() and pyflink_fixes.install()  # idempotent

    def extract(func_type: int) -> tuple[list[Any], list[Any]]:
        routed: list[Any] = []

        def process_func(values: Iterator[Any]) -> Iterator[Any]:
            for value in values:
                if value[0] is TAG:
                    routed.append(value[1])
                else:
                    yield value

        built = operation(None, None, None, None, timer)
        assert func_type is not None and process_func is not None
        return list(built.on_timer_func(42)), routed

    main, side = extract(7)  # KEYED_CO_BROADCAST_PROCESS
    assert main == [("decision", 42)] and side == ["alert"]
    main, side = extract(5)  # other function types are left alone
    assert main == [("decision", 42), (TAG, "alert")] and side == []


def test_without_side_outputs_the_timer_is_left_alone() -> None:
    assert pyflink_fixes.route_side_outputs(timer, None) is timer


def test_install_outside_a_worker_does_nothing() -> None:
    # On the client pemja has no findClass: the embedded operations cannot be imported.
    assert pyflink_fixes.install() is False


class JavaContext:
    def __init__(self, index: int) -> None:
        self.index = index

    def getTaskInfo(self) -> Any:
        return types.SimpleNamespace(getIndexOfThisSubtask=lambda: self.index)


class ThreadModeContext:
    """Thread mode: the Python method calls a Java method Flink 2 no longer has."""

    def __init__(self, index: int) -> None:
        self._runtime_context = JavaContext(index)

    def get_index_of_this_subtask(self) -> int:
        raise AttributeError("'pemja.PyJObject' object has no attribute 'getIndexOfThisSubtask'")


def test_subtask_index_in_both_execution_modes() -> None:
    assert pyflink_fixes.subtask_index(ThreadModeContext(3)) == 3
    process_mode = types.SimpleNamespace(get_index_of_this_subtask=lambda: 2)
    assert pyflink_fixes.subtask_index(process_mode) == 2
    assert pyflink_fixes.subtask_index(object()) == 0
