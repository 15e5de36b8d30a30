"""The one client of the Flink JobManager's REST API, and the one record of a Flink job.

The stack manager, `fraudctl job …`, the health probe and the compose submitter all ask
the same questions (which jobs run? is this one RUNNING yet? cancel it); they ask them
here, so a change in Flink's answers is handled in one place. Every failure to reach the
JobManager is a `FlinkUnreachable`; callers add the fix that fits their surface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from foundation.settings import Settings

ACTIVE_STATES = frozenset(
    {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "FAILING"}
)
ENDED_STATES = frozenset({"FAILED", "CANCELED", "FINISHED"})


class FlinkRestError(RuntimeError):
    """The JobManager answered, or failed to, in a way the caller cannot go on from."""


class FlinkUnreachable(FlinkRestError):
    """The JobManager's REST API does not answer (or answers with an error)."""


class JobStateTimeout(FlinkRestError):
    """A job did not reach the wanted state in time, or ended in another one."""


@dataclass(frozen=True, slots=True)
class FlinkJob:
    """One job as `/jobs/overview` lists it; times are epoch milliseconds."""

    job_id: str
    name: str
    state: str
    start_time_ms: int | None = None
    end_time_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @classmethod
    def from_overview(cls, entry: dict[str, Any]) -> FlinkJob:
        """Flink writes -1 for a time it does not know (e.g. the end of a running job)."""
        return cls(
            job_id=str(entry["jid"]),
            name=str(entry["name"]),
            state=str(entry["state"]),
            start_time_ms=_known_time(entry.get("start-time")),
            end_time_ms=_known_time(entry.get("end-time")),
        )


def _known_time(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value >= 0 else None


class FlinkRest:
    """Requests to one JobManager; pass `client` to share an `httpx.Client` (and its pool)."""

    def __init__(
        self, rest_url: str, *, timeout_s: float = 5.0, client: httpx.Client | None = None
    ) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = client

    @classmethod
    def of(cls, settings: Settings, *, timeout_s: float = 5.0) -> FlinkRest:
        return cls(settings.flink.rest_url, timeout_s=timeout_s)

    # -- reading ------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        """The JSON body of GET `path`; `FlinkUnreachable` on any transport or HTTP error."""
        response = self._request("GET", path)
        try:
            return response.json()
        except ValueError as error:
            raise FlinkUnreachable(f"{response.url} did not answer JSON ({error})") from None

    def overview(self) -> dict[str, Any]:
        """The cluster overview (task slots, TaskManagers, job counts)."""
        body = self.get("/overview")
        return body if isinstance(body, dict) else {}

    def jobs(self) -> list[FlinkJob]:
        """Every job the cluster knows, in any state."""
        try:
            entries = self.get("/jobs/overview").get("jobs", [])
            return [FlinkJob.from_overview(entry) for entry in entries]
        except (AttributeError, KeyError, TypeError) as error:
            raise FlinkUnreachable(
                f"{self.rest_url}/jobs/overview gave an unexpected answer ({error!r})"
            ) from None

    def active_jobs(self, name: str) -> list[FlinkJob]:
        """Active jobs called `name`, newest first."""
        found = [job for job in self.jobs() if job.name == name and job.active]
        return sorted(found, key=lambda job: -(job.start_time_ms or 0))

    def newest_job(self, name: str) -> FlinkJob | None:
        """The most recently started job called `name`, active or not."""
        ours = [job for job in self.jobs() if job.name == name]
        return max(ours, key=lambda job: job.start_time_ms or 0, default=None)

    def job_detail(self, job_id: str) -> dict[str, Any]:
        body = self.get(f"/jobs/{job_id}")
        return body if isinstance(body, dict) else {}

    def restarts(self, job_id: str) -> int | None:
        """How often the job has restarted since it was submitted; None if Flink says neither.

        The `numRestarts` metric alone is not enough: the REST server answers it from a
        metric store that a request only *starts* to refresh, so the first read after a
        quiet spell can be minutes old (read 1 after a second restart). The exception
        history is the scheduler's own record, current at once: one entry per failure that
        restarted the job, the newest `web.exception-history-size` of them. The larger of
        the two counts.
        """
        counts: list[int] = []
        try:
            metric = self.get(f"/jobs/{job_id}/metrics?get=numRestarts")
            counts.extend(int(item["value"]) for item in metric if item.get("id") == "numRestarts")
        except (FlinkUnreachable, AttributeError, KeyError, TypeError, ValueError):
            pass
        try:
            history = self.get(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
            counts.append(len(history))
        except (FlinkUnreachable, KeyError, TypeError):
            pass
        return max(counts, default=None)

    def failure(self, job_id: str) -> str | None:
        """Why the job last failed, as Flink's innermost cause says ("Exception: message"),
        from its exception history; None when Flink recorded no failure (or cannot say)."""
        try:
            entries = self.get(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
            trace = str(entries[0]["stacktrace"]) if entries else ""
        except (FlinkUnreachable, KeyError, TypeError, IndexError):
            return None
        return innermost_cause(trace)

    # -- lifecycle ----------------------------------------------------------------------
    def wait_for_state(self, job_id: str, wanted: str = "RUNNING", timeout_s: float = 120.0) -> str:
        """Poll until the job is `wanted` (for RUNNING: with every task running too)."""
        deadline = time.monotonic() + timeout_s
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            try:
                body = self.job_detail(job_id)
            except FlinkUnreachable:
                body = {}
            if body:
                state = str(body.get("state", "UNKNOWN"))
                if state == wanted and (wanted != "RUNNING" or _all_tasks_running(body)):
                    return state
                if state in ENDED_STATES and state != wanted:
                    raise JobStateTimeout(f"job {job_id} ended in state {state}, not {wanted}")
            time.sleep(0.5)
        raise JobStateTimeout(f"job {job_id} is {state}, not {wanted}, after {timeout_s:.0f} s")

    def cancel(self, job_id: str, timeout_s: float = 60.0) -> None:
        """Cancel the job and wait until Flink reports it CANCELED."""
        # A job that ends by itself meanwhile answers an error; waiting tells what it became.
        self._request("PATCH", f"/jobs/{job_id}?mode=cancel", check_status=False)
        self.wait_for_state(job_id, "CANCELED", timeout_s)

    def stop_with_savepoint(self, job_id: str, target_dir: str, timeout_s: float) -> str | None:
        """Stop the job with a savepoint into `target_dir`: its location, or None when Flink
        did not take one (the job is then left as it was, for the caller to cancel)."""
        try:
            body = {"drain": False, "targetDirectory": target_dir}
            started = self._request("POST", f"/jobs/{job_id}/stop", json=body).json()
            request_id = started["request-id"]
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                status = self.get(f"/jobs/{job_id}/savepoints/{request_id}")
                if status.get("status", {}).get("id") == "COMPLETED":
                    location = status.get("operation", {}).get("location")
                    if location is None:
                        return None
                    self.wait_for_state(job_id, "FINISHED", timeout_s)
                    return str(location).removeprefix("file:")
                time.sleep(0.5)
        except (FlinkRestError, KeyError, ValueError, AttributeError):
            return None
        return None

    # -- transport ----------------------------------------------------------------------
    def _request(
        self, method: str, path: str, *, check_status: bool = True, **kwargs: Any
    ) -> httpx.Response:
        url = f"{self.rest_url}{path}"
        try:
            if self._client is not None:
                response = self._client.request(method, url, timeout=self.timeout_s, **kwargs)
            else:
                response = httpx.request(method, url, timeout=self.timeout_s, **kwargs)
            if check_status:
                response.raise_for_status()
        except httpx.HTTPError as error:
            raise FlinkUnreachable(f"{method} {url} failed: {error}") from None
        return response


def innermost_cause(stacktrace: str) -> str | None:
    """The last "Caused by:" of a Java stack trace (else its first line), without the
    package of the exception class: what a person needs to read of it."""
    lines = [line.strip() for line in stacktrace.splitlines() if line.strip()]
    if not lines:
        return None
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    cause = causes[-1] if causes else lines[0]
    name, colon, message = cause.partition(": ")
    return f"{name.rsplit('.', 1)[-1]}{colon}{message}"


def _all_tasks_running(body: dict[str, Any]) -> bool:
    vertices = body.get("vertices", [])
    return isinstance(vertices, list) and all(v.get("status") == "RUNNING" for v in vertices)
