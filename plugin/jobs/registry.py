"""The one job interface (issue #6): job kinds and periodic tasks are registered here.

A *job kind* is a named unit of background work with a durable row in ``jobs``:

    @job_kind("codes.generate")
    def generate(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
        ...  # runs inside an app context with its own db.session; returns the result

Callers create the row with :func:`enqueue` inside their own transaction (so the job
exists if and only if the change that asked for it commits); the runner (in the serve
process, or RQ workers on Redis) picks it up.

A *periodic task* runs every ``every`` seconds in some process that runs jobs:

    @periodic("audiences.due", every=60)
    def run_due_audiences() -> None: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plugin.db import db
from plugin.jobs.models import JOB_QUEUED, Job
from plugin.shops.models import Shop

#: ``work(job, report)`` does the job; ``report(done)`` records progress; returns the result.
Work = Callable[[Job, Callable[[int], None]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    name: str
    every: float
    run: Callable[[], None]


JOB_KINDS: dict[str, Work] = {}
PERIODIC_TASKS: dict[str, PeriodicTask] = {}


def job_kind(name: str) -> Callable[[Work], Work]:
    """Register ``work`` as the job kind ``name``."""

    def register(work: Work) -> Work:
        if JOB_KINDS.get(name, work) is not work:
            raise ValueError(f"job kind {name!r} is registered twice")
        JOB_KINDS[name] = work
        return work

    return register


def periodic(name: str, every: float) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register ``run`` to be called every ``every`` seconds inside an app context."""

    def register(run: Callable[[], None]) -> Callable[[], None]:
        PERIODIC_TASKS[name] = PeriodicTask(name, every, run)
        return run

    return register


def enqueue(shop: Shop, kind: str, params: dict[str, Any], total: int = 0) -> Job:
    """Add a queued job of ``kind`` to the current transaction; the caller commits."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(shop_id=shop.id, kind=kind, status=JOB_QUEUED, progress=0, total=total)
    job.params = params
    db.session.add(job)
    db.session.flush()
    return job
