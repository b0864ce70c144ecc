"""Background jobs (issue #6): one interface for long operations and periodic tasks.

Register work with :func:`job_kind` and :func:`periodic`, create jobs with :func:`enqueue`
inside the caller's transaction, follow them through ``GET /api/jobs/{id}``. Where they run
is configuration: the embedded runner in every ``customer-groups serve`` worker process
(default), or RQ workers on Redis (``CUSTOMER_GROUPS_JOB_QUEUE=rq``).
"""

from plugin.jobs.registry import (
    PermanentJobError,
    enqueue,
    job_kind,
    periodic,
)
from plugin.jobs.runner import run_pending, start_runner, stop_runner, tick

__all__ = [
    "PermanentJobError",
    "enqueue",
    "job_kind",
    "periodic",
    "run_pending",
    "start_runner",
    "stop_runner",
    "tick",
]
