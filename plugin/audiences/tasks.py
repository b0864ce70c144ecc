"""The background work of audiences, registered on the job interface; the boundary of runs.

- ``audiences.run`` (job): one audience run (``POST .../run`` of a large audience,
  scheduled runs, runs abandoned by a dead worker); the run resumes from its own cursors.
- ``audiences.due`` (every minute): queue a run of each due scheduled audience, and a job
  for each queued or abandoned run.
- ``audiences.reseal`` (hourly): credentials sealed under the previous app secret are
  re-encrypted under the current one.

This module is where audience runs commit (``plugin.audiences.sync`` never does): once per
step of the run (one vendor batch sent and recorded), so that a run killed halfway resumes
after its last committed step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app

from plugin.audiences.credentials import CredentialsUnavailable, reseal_all
from plugin.audiences.http import FatalVendorError
from plugin.audiences.models import RUN_RUNNING, Audience, AudienceRun
from plugin.audiences.sync import (
    STALE_AFTER,
    count_members,
    due_audiences,
    fail_run,
    load_run,
    pending_runs,
    queue_run,
    run_steps,
)
from plugin.db import db, get_for_shop, utcnow
from plugin.errors import ApiError, ErrorCode
from plugin.jobs.models import Job
from plugin.jobs.registry import enqueue, job_kind, periodic
from plugin.shops.models import Shop

log = logging.getLogger(__name__)

RUN_AUDIENCE = "audiences.run"


def enqueue_audience_run(shop: Shop | int, audience_id: int, run_id: int) -> Job:
    """Queue the job that runs (or resumes) an audience run; one per unfinished run."""
    return enqueue(
        shop,
        RUN_AUDIENCE,
        {"audience_id": audience_id, "run_id": run_id},
        key=f"audience-run:{run_id}",
    )


def drive(
    shop_id: int,
    audience_id: int,
    run_id: int,
    commit: Callable[[int], None],
    *,
    stale_after: timedelta | None = None,
) -> AudienceRun | None:
    """Run (or resume) a run to its end, calling ``commit(done)`` after every step; the run.

    A refusal no call can get past (credentials, a destination outgoing requests may not go
    to) rolls back the step in flight and fails the run. Anything else rolls back the step
    and propagates: the run stays ``running`` with its cursors, resumed once its heartbeat is
    stale.
    """
    try:
        for done in run_steps(shop_id, audience_id, run_id, stale_after=stale_after):
            commit(done)
    except FatalVendorError as exc:
        db.session.rollback()
        fail_run(shop_id, audience_id, run_id, exc)
        commit(0)
    except BaseException:
        db.session.rollback()
        raise
    run = load_run(shop_id, run_id)
    db.session.commit()
    return run


def _commit(done: int) -> None:
    db.session.commit()


def start_run_now(shop: Shop, audience_id: int) -> AudienceRun:
    """``POST .../run``: queue a run and run it in the request when the audience is small,
    otherwise as a job. A run already under way answers 409; one that was abandoned (its
    worker died) is resumed."""
    audience = get_for_shop(Audience, shop.id, audience_id)
    source = (audience.source_type, audience.source_id)
    run_id, created = queue_run(shop.id, audience.id)
    run = get_for_shop(AudienceRun, shop.id, run_id)
    if not created and run.status == RUN_RUNNING:
        beat = run.heartbeat_at
        if beat is not None and beat > utcnow() - STALE_AFTER:
            db.session.rollback()
            raise ApiError(
                ErrorCode.AUDIENCE_RUN_IN_PROGRESS,
                "This audience is being synced already; follow that run.",
                409,
                {"run_id": run_id},
            )
    # At most this many members run inside the request; larger audiences are queued as a
    # background job (``audiences.run``).
    limit = current_app.config["CUSTOMER_GROUPS_AUDIENCE_INLINE_LIMIT"]
    small = source[1] is None or count_members(shop.id, source[0], source[1]) <= limit
    if not small:
        enqueue_audience_run(shop, audience.id, run_id)
    db.session.commit()
    if small:
        try:
            drive(shop.id, audience.id, run_id, _commit)
        except Exception:
            # The run keeps its cursors and resumes once its heartbeat is stale.
            log.exception("Audience run %s stopped", run_id)
    db.session.expire_all()
    run = get_for_shop(AudienceRun, shop.id, run_id)
    db.session.commit()
    return run


@job_kind(RUN_AUDIENCE)
def run_audience_job(job: Job, report: Callable[[int], None]) -> dict[str, Any]:
    # ``report`` records the progress and commits, while the job is still this runner's.
    run = drive(job.shop_id, job.params["audience_id"], job.params["run_id"], report)
    if run is None:
        return {"run_id": job.params["run_id"], "status": None}
    return {
        "run_id": run.id,
        "status": run.status,
        "synced": run.synced,
        "removed": run.removed,
        "skipped": run.skipped,
        "failed": run.failed,
    }


@periodic("audiences.due", every=60)
def queue_due_audiences() -> None:
    """Queue a run of every due scheduled audience, and a job for every run waiting for one
    (queued, or abandoned by a worker that died: it resumes from its cursors)."""
    now = utcnow()
    for audience in due_audiences(now):
        queue_run(audience.shop_id, audience.id, now)
    for run in pending_runs(now):
        enqueue_audience_run(run.shop_id, run.audience_id, run.id)
    db.session.commit()


@periodic("audiences.reseal", every=3600)
def reseal_credentials() -> None:
    """Re-encrypt credentials sealed under the previous app secret (a rotation)."""
    try:
        changed = reseal_all()
    except CredentialsUnavailable:
        return  # no app secret: nothing was sealed
    db.session.commit()
    if changed:
        log.info("Re-encrypted the credentials of %s audiences under the current secret", changed)
