"""Background jobs (issue #6): one interface for long operations and periodic tasks.

Register work with :func:`job_kind` and :func:`periodic`, create jobs with :func:`enqueue`
inside the caller's transaction, follow them through ``GET /api/jobs/{id}``. Where they run
is configuration: the embedded runner in every ``customer-groups serve`` worker process
(default), or RQ workers on Redis (``CUSTOMER_GROUPS_JOB_QUEUE=rq``).

The machinery is core: it knows no feature. Features register their job kinds and
periodic tasks in their own ``tasks`` modules; the modules of this package are described
in :mod:`plugin.jobs.runner`.
"""

from plugin.jobs.claims import jobs_state, run_pending
from plugin.jobs.registry import (
    PermanentJobError,
    enqueue,
    job_kind,
    periodic,
)
from plugin.jobs.runner import start_runner, stop_runner
from plugin.jobs.schedule import tick
from plugin.jobs.worker import run_worker

__all__ = [
    "PermanentJobError",
    "enqueue",
    "job_kind",
    "jobs_state",
    "periodic",
    "run_pending",
    "run_worker",
    "start_runner",
    "stop_runner",
    "tick",
]
