"""The scoring job on the session stack (tests/fixtures/job.py)."""

from tests.fixtures.job import scoring_job  # noqa: F401
