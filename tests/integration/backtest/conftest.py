"""The scoring job (session scope, warm) comes from the job engineer's fixture.

The retrain test publishes models into the stack's registry, so it runs only when the
session stack's registry is not the repository's models/artifacts: point
FRAUDCTL_MODEL__ARTIFACTS_DIR at a copy to run it (it skips otherwise, saying so).
"""

from tests.fixtures.job import scoring_job  # noqa: F401
