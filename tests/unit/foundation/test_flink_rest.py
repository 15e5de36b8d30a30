"""The Flink REST client against a fake JobManager (httpx.MockTransport)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from foundation.flink_rest import (
    FlinkJob,
    FlinkRest,
    FlinkUnreachable,
    JobStateTimeout,
    innermost_cause,
)

NAME = "Stateful Fraud Detection with Redis Alerts"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> FlinkRest:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return FlinkRest("http://jm:8081/", client=http)


def overview(*jobs: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/jobs/overview"
        return httpx.Response(200, json={"jobs": list(jobs)})

    return handler


def entry(jid: str, state: str, start: int, name: str = NAME, end: int = -1) -> dict[str, Any]:
    return {"jid": jid, "name": name, "state": state, "start-time": start, "end-time": end}


def test_one_record_per_job_with_unknown_times_as_none() -> None:
    rest = client_for(overview(entry("a", "RUNNING", 1000), entry("b", "FINISHED", 5, end=9)))
    assert rest.jobs() == [
        FlinkJob("a", NAME, "RUNNING", 1000, None),
        FlinkJob("b", NAME, "FINISHED", 5, 9),
    ]


def test_active_jobs_by_name_newest_first() -> None:
    rest = client_for(
        overview(
            entry("old", "RUNNING", 1),
            entry("gone", "CANCELED", 50),
            entry("other", "RUNNING", 60, name="another job"),
            entry("new", "RESTARTING", 40),
        )
    )
    assert [job.job_id for job in rest.active_jobs(NAME)] == ["new", "old"]


def test_the_newest_run_counts_whatever_its_state() -> None:
    rest = client_for(overview(entry("a", "RUNNING", 1), entry("b", "FAILED", 2)))
    newest = rest.newest_job(NAME)
    assert newest is not None and (newest.job_id, newest.state) == ("b", "FAILED")
    assert rest.newest_job("no such job") is None


@pytest.mark.parametrize(
    "handler",
    [
        lambda request: httpx.Response(503, text="busy"),
        lambda request: httpx.Response(200, text="<html>not json</html>"),
        lambda request: httpx.Response(200, json={"jobs": [{"name": "no id"}]}),
    ],
)
def test_every_failure_is_flink_unreachable(
    handler: Callable[[httpx.Request], httpx.Response],
) -> None:
    with pytest.raises(FlinkUnreachable):
        client_for(handler).jobs()


def test_a_refused_connection_is_flink_unreachable() -> None:
    with pytest.raises(FlinkUnreachable, match=r"127\.0\.0\.1:1"):
        FlinkRest("http://127.0.0.1:1", timeout_s=1).jobs()


def test_running_means_every_task_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)  # the client polls every 0.5 s
    answers = iter(
        [
            {"state": "RUNNING", "vertices": [{"status": "RUNNING"}, {"status": "DEPLOYING"}]},
            {"state": "RUNNING", "vertices": [{"status": "RUNNING"}, {"status": "RUNNING"}]},
        ]
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=next(answers))

    assert client_for(handler).wait_for_state("j1", "RUNNING", timeout_s=30) == "RUNNING"
    assert seen == ["/jobs/j1", "/jobs/j1"]


def test_a_job_that_ends_otherwise_stops_the_wait() -> None:
    rest = client_for(lambda request: httpx.Response(200, json={"state": "FAILED"}))
    with pytest.raises(JobStateTimeout, match="ended in state FAILED, not RUNNING"):
        rest.wait_for_state("j1", "RUNNING", timeout_s=30)


def test_cancel_asks_then_waits_for_canceled() -> None:
    calls: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, str(request.url)))
        if request.method == "PATCH":
            return httpx.Response(202, json={})
        return httpx.Response(200, json={"state": "CANCELED"})

    client_for(handler).cancel("j1", timeout_s=5)
    assert calls == [
        ("PATCH", "http://jm:8081/jobs/j1?mode=cancel"),
        ("GET", "http://jm:8081/jobs/j1"),
    ]


def test_a_savepoint_stop_returns_its_location() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert request.url.path == "/jobs/j1/stop"
            return httpx.Response(202, json={"request-id": "r1"})
        if request.url.path == "/jobs/j1/savepoints/r1":
            body = {"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/1"}}
            return httpx.Response(200, json=body)
        return httpx.Response(200, json={"state": "FINISHED"})

    assert client_for(handler).stop_with_savepoint("j1", "/sp", timeout_s=5) == "/sp/1"


def test_a_failed_savepoint_stop_is_none() -> None:
    rest = client_for(lambda request: httpx.Response(500, json={"errors": ["no"]}))
    assert rest.stop_with_savepoint("j1", "/sp", timeout_s=5) is None


def restart_answers(
    metric: Any, history: Any, failing: frozenset[str] = frozenset()
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in failing:
            return httpx.Response(500, json={"errors": ["down"]})
        if path == "/jobs/j1/metrics":
            assert request.url.params["get"] == "numRestarts"
            return httpx.Response(200, json=metric)
        assert path == "/jobs/j1/exceptions"
        return httpx.Response(200, json=history)

    return handler


def history_of(entries: int) -> dict[str, Any]:
    return {"exceptionHistory": {"entries": [{"timestamp": n} for n in range(entries)]}}


def test_restarts_count_the_exception_history_when_the_metric_lags() -> None:
    # Flink's metric store answered 1 after a second restart (refreshed only after a request)
    rest = client_for(restart_answers([{"id": "numRestarts", "value": "1"}], history_of(2)))
    assert rest.restarts("j1") == 2


def test_restarts_trust_the_metric_beyond_a_truncated_history() -> None:
    rest = client_for(restart_answers([{"id": "numRestarts", "value": "40"}], history_of(16)))
    assert rest.restarts("j1") == 40


def test_restarts_from_whichever_answer_there_is() -> None:
    no_metric = restart_answers([], history_of(0), failing=frozenset({"/jobs/j1/metrics"}))
    assert client_for(no_metric).restarts("j1") == 0
    only_metric = restart_answers(
        [{"id": "numRestarts", "value": "3"}], {}, failing=frozenset({"/jobs/j1/exceptions"})
    )
    assert client_for(only_metric).restarts("j1") == 3
    neither = restart_answers([], {"unexpected": True})
    assert client_for(neither).restarts("j1") is None


# What Flink 2.2 answered here for a job restored from another job's checkpoint (trimmed).
UNMAPPED_TRACE = (
    "org.apache.flink.runtime.client.JobInitializationException: Could not start the "
    "JobMaster.\n\tat org.apache.flink.runtime.jobmaster.DefaultJobMasterServiceProcess"
    ".lambda$new$0(DefaultJobMasterServiceProcess.java:97)\n"
    "Caused by: java.util.concurrent.CompletionException: java.lang.IllegalStateException: "
    "Failed to rollback to checkpoint/savepoint file:/s/chk-1. Cannot map "
    "checkpoint/savepoint state for operator cbc357 to the new program.\n\t... 4 more\n"
    "Caused by: java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint "
    "file:/s/chk-1. Cannot map checkpoint/savepoint state for operator cbc357 to the new "
    "program.\n\tat org.apache.flink.runtime.checkpoint.Checkpoints.throwNonRestored"
    "StateException(Checkpoints.java:240)\n"
)


def test_a_failure_is_its_innermost_cause_without_the_package() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/jobs/j1/exceptions"
        entries = [{"exceptionName": "JobInitializationException", "stacktrace": UNMAPPED_TRACE}]
        return httpx.Response(200, json={"exceptionHistory": {"entries": entries}})

    assert client_for(handler).failure("j1") == (
        "IllegalStateException: Failed to rollback to checkpoint/savepoint file:/s/chk-1. "
        "Cannot map checkpoint/savepoint state for operator cbc357 to the new program."
    )


def test_no_recorded_failure_or_an_odd_answer_is_none() -> None:
    empty = client_for(lambda r: httpx.Response(200, json={"exceptionHistory": {"entries": []}}))
    assert empty.failure("j1") is None
    assert client_for(lambda r: httpx.Response(200, json={"other": 1})).failure("j1") is None
    assert client_for(lambda r: httpx.Response(500)).failure("j1") is None


def test_a_trace_without_a_cause_is_its_first_line() -> None:
    assert innermost_cause("java.io.IOException: disk full\n\tat x.y(Z.java:1)") == (
        "IOException: disk full"
    )
    assert innermost_cause("  \n") is None
