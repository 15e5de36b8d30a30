"""A fix for PyFlink 2.2's thread mode: side outputs from a KeyedBroadcastProcessFunction timer.

In thread mode `pyflink.fn_execution.datastream.embedded.operations.extract_process_function`
routes `(OutputTag, value)` results to their side output for every function type except
one: the timer of a keyed broadcast function (`on_timer_func` yields its results unfiltered).
The scorer releases held transactions on its timer, and their alerts and dead letters are
side outputs, which would then reach the main output and fail its serializer.

`install()` wraps `TwoInputOperation.__init__` of that module: when the operation is built
for a keyed broadcast function, its timer results go through the same `process_func` the
other callbacks use (taken from the building frame, where PyFlink defines it). Process mode
(Beam runner) routes side outputs generically and needs nothing. Idempotent; a PyFlink
without that module (or a changed one) is left alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

_MARK = "_fraudctl_timer_side_outputs"


def install() -> bool:
    """Patch the embedded operations once per interpreter; True when the patch is active."""
    try:
        from pyflink.fn_execution import flink_fn_execution_pb2
        from pyflink.fn_execution.datastream.embedded import operations
    except ImportError:  # not inside a thread-mode worker's PyFlink
        return False
    operation = operations.TwoInputOperation
    if getattr(operation, _MARK, False):
        return True
    functions = flink_fn_execution_pb2.UserDefinedDataStreamFunction
    keyed_broadcast = functions.KEYED_CO_BROADCAST_PROCESS
    original = operation.__init__

    def patched_init(
        self: Any,
        open_func: Any,
        close_func: Any,
        process_element_func1: Any,
        process_element_func2: Any,
        on_timer_func: Any = None,
    ) -> None:
        builder = sys._getframe(1).f_locals
        if on_timer_func is not None and builder.get("func_type") == keyed_broadcast:
            on_timer_func = route_side_outputs(on_timer_func, builder.get("process_func"))
        original(
            self, open_func, close_func, process_element_func1, process_element_func2, on_timer_func
        )

    operation.__init__ = patched_init
    setattr(operation, _MARK, True)
    return True


def route_side_outputs(
    on_timer: Callable[[int], Iterator[Any]],
    process_func: Callable[[Iterator[Any]], Iterator[Any]] | None,
) -> Callable[[int], Iterator[Any]]:
    """`on_timer` whose results pass through PyFlink's side-output router (if there is one)."""
    if process_func is None:  # the operator has no side outputs: nothing to route
        return on_timer

    def routed(timestamp: int) -> Iterator[Any]:
        yield from process_func(on_timer(timestamp))

    return routed


def subtask_index(runtime_context: Any) -> int:
    """The subtask's index. Thread mode's `get_index_of_this_subtask` calls a Java method
    that Flink 2 moved to `RuntimeContext.getTaskInfo()`; process mode's works."""
    try:
        return int(runtime_context.get_index_of_this_subtask())
    except AttributeError:
        pass
    j_context = getattr(runtime_context, "_runtime_context", None)
    try:
        return int(j_context.getTaskInfo().getIndexOfThisSubtask())  # type: ignore[union-attr]
    except Exception:  # an unknown runtime: one subtask's worth of information is lost
        return 0
