"""Entry point run by `flink run -py flink_job/main.py` (see fraudctl.jobs.submit_job).

Settings arrive as FRAUDCTL_* variables set by the submitting process; the model is read
here, on the client, and shipped inside the job graph.
"""

from __future__ import annotations

from flink_job.connectors import make_environment
from flink_job.job import build_job
from flink_job.model import ModelPackage
from foundation.settings import get_settings


def main() -> None:
    settings = get_settings()
    package = ModelPackage.load(settings.model.artifacts_dir)
    env = make_environment(settings)
    build_job(env, settings, package)
    env.execute_async(settings.flink.job_name)


if __name__ == "__main__":
    main()
