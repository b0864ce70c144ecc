"""How background work runs, read from the app's ``CUSTOMER_GROUPS_*`` config.

Values may come typed (``create_app({...})``) or as the strings of the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

QUEUE_EMBEDDED = "embedded"
QUEUE_RQ = "rq"
_FALSE = {"0", "false", "no", "off", ""}


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)


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
        queue = str(config.get("CUSTOMER_GROUPS_JOB_QUEUE") or QUEUE_EMBEDDED).strip().lower()
        if queue not in (QUEUE_EMBEDDED, QUEUE_RQ):
            raise RuntimeError(
                f"CUSTOMER_GROUPS_JOB_QUEUE is {queue!r}: it must be 'embedded' or 'rq'."
            )
        redis_url = config.get("CUSTOMER_GROUPS_REDIS_URL") or None
        if queue == QUEUE_RQ and not redis_url:
            raise RuntimeError(
                "CUSTOMER_GROUPS_JOB_QUEUE is 'rq' but CUSTOMER_GROUPS_REDIS_URL is not set."
            )
        run_jobs = config.get("CUSTOMER_GROUPS_RUN_JOBS")
        lease = float(config.get("CUSTOMER_GROUPS_JOB_LEASE_SECONDS") or 60)
        return cls(
            queue=queue,
            run_jobs=not config.get("TESTING") if run_jobs is None else _flag(run_jobs),
            redis_url=redis_url,
            threads=max(1, int(config.get("CUSTOMER_GROUPS_JOB_THREADS") or 2)),
            poll_seconds=max(0.05, float(config.get("CUSTOMER_GROUPS_JOB_POLL_SECONDS") or 1)),
            lease_seconds=max(1.0, lease),
            max_attempts=max(1, int(config.get("CUSTOMER_GROUPS_JOB_MAX_ATTEMPTS") or 5)),
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
