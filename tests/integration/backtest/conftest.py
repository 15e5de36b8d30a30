"""The scoring job (session scope, warm) comes from the job engineer's fixture."""

from tests.fixtures.job import scoring_job  # noqa: F401
