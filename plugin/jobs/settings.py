"""How background work runs, read from the app's ``CUSTOMER_GROUPS_*`` settings.

Types, bounds and defaults are those of ``plugin.config.SETTINGS``; what is checked here
is only what no single setting can say (queue mode needs a Redis URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from plugin.config import checked

QUEUE_EMBEDDED = "embedded"
QUEUE_RQ = "rq"


@dataclass(frozen=True, slots=True)
class JobSettings:
    #: ``embedded``: a runner inside each ``serve`` worker process takes jobs from the
    #: database; ``rq``: job ids go to RQ on Redis and ``customer-groups worker`` runs them.
    queue: str
    #: Whether ``serve`` starts the embedded runner (``None`` in the config: yes, except
    #: under TESTING, where tests drive the runner themselves).
    run_jobs: bool
    redis_url: str | None
    threads: int
    poll_seconds: float
    lease_seconds: float
    max_attempts: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> JobSettings:
        values = checked(config)  # typed and within bounds, or refused by name
        queue = values["CUSTOMER_GROUPS_JOB_QUEUE"]
        redis_url = values["CUSTOMER_GROUPS_REDIS_URL"]
        if queue == QUEUE_RQ and not redis_url:
            raise RuntimeError(
                "CUSTOMER_GROUPS_JOB_QUEUE is 'rq' but CUSTOMER_GROUPS_REDIS_URL is not set."
            )
        run_jobs = values["CUSTOMER_GROUPS_RUN_JOBS"]
        return cls(
            queue=queue,
            run_jobs=not config.get("TESTING") if run_jobs is None else run_jobs,
            redis_url=redis_url,
            threads=values["CUSTOMER_GROUPS_JOB_THREADS"],
            poll_seconds=values["CUSTOMER_GROUPS_JOB_POLL_SECONDS"],
            lease_seconds=values["CUSTOMER_GROUPS_JOB_LEASE_SECONDS"],
            max_attempts=values["CUSTOMER_GROUPS_JOB_MAX_ATTEMPTS"],
        )

    @classmethod
    def current(cls) -> JobSettings:
        """The settings of the app in context (kept by the extension after ``init_app``)."""
        state = current_app.extensions.get("customer_groups")
        settings = getattr(state, "jobs", None)
        if isinstance(settings, JobsState):
            return settings.settings
        return cls.from_config(current_app.config)


class JobsState:
    """What the extension keeps per app for background work (in ``ExtensionState.jobs``)."""

    def __init__(self, settings: JobSettings) -> None:
        self.settings = settings
        self.runner: Any = None  # the embedded Runner of this process, once started
        self.redis: Any = None  # the Redis connection, queue mode only (made on first use)
        self.redis_pid: int | None = None  # the process that made it (no sharing past a fork)
