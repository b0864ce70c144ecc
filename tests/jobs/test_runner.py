"""The database runner: claims, leases, retries, the schedule, and the embedded threads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.db import db, utcnow
from plugin.jobs import jobs_state, run_pending, start_runner, stop_runner, tick
from plugin.jobs import runner as runner_module
from plugin.jobs.claims import claim_next, execute, requeue_expired
from plugin.jobs.models import Job, PeriodicRun
from plugin.jobs.registry import PermanentJobError, enqueue
from plugin.shops.models import Shop
from tests.conftest import PG_URL, Host, make_app
from tests.jobs.conftest import add_job, job_row


def echo(job, report):
    return {"echo": job.params}


# --- Claims ----------------------------------------------------------------------------------


def test_racing_claims_never_take_one_job_twice(app, shop_id, register):
    register.kind("test.echo", echo)
    ids = [add_job(app, shop_id, "test.echo", {"n": n}) for n in range(150)]
    taken: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claimer():
        start.wait()
        while True:
            with app.app_context():
                claim = claim_next(lease_seconds=60)
            if claim is None:
                with app.app_context():
                    left = db.session.execute(
                        select(Job.id).where(Job.status == "queued").limit(1)
                    ).first()
                    db.session.rollback()
                if left is None:
                    return
                continue
            with lock:
                taken.append(claim.job_id)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == ids  # every job once, none twice
    with app.app_context():
        rows = db.session.execute(select(Job.status, Job.attempts, Job.claim_token)).all()
    assert {(status, attempts) for status, attempts, _ in rows} == {("running", 1)}
    assert len({token for _, _, token in rows}) == len(ids)


def test_racing_runners_run_every_job_exactly_once(app, shop_id, register):
    runs: Counter[int] = Counter()
    lock = threading.Lock()

    def count(job, report):
        with lock:
            runs[job.id] += 1
        report(1)
        return {"ran": True}

    register.kind("test.count", count)
    ids = [add_job(app, shop_id, "test.count", total=1) for _ in range(120)]
    start = threading.Barrier(5)
    done: list[int] = []

    def runner():
        start.wait()
        done.append(run_pending(app))

    threads = [threading.Thread(target=runner) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(done) == len(ids)
    assert sorted(runs) == ids and set(runs.values()) == {1}
    with app.app_context():
        assert set(db.session.execute(select(Job.status, Job.attempts, Job.progress))) == {
            ("succeeded", 1, 1)
        }


@pytest.mark.skipif(not PG_URL, reason="SKIP LOCKED is PostgreSQL's; SQLite serialises claims")
def test_postgresql_claims_skip_a_row_another_runner_holds(app, shop_id, register):
    register.kind("test.echo", echo)
    first = add_job(app, shop_id, "test.echo")
    second = add_job(app, shop_id, "test.echo")
    with app.app_context():
        # Another runner is in the middle of claiming the oldest job: its row is locked.
        db.session.execute(select(Job).where(Job.id == first).with_for_update())
        took: list[int] = []
        thread = threading.Thread(
            target=lambda: took.append(_claim_in_context(app).job_id), daemon=True
        )
        thread.start()
        thread.join(10)
        assert took == [second]  # not blocked behind the lock: it took the next one
        db.session.rollback()


def _claim_in_context(app):
    with app.app_context():
        return claim_next(lease_seconds=60)


def test_jobs_of_an_uninstalled_shop_wait_until_it_is_installed_again(app, host, shop_id, register):
    register.kind("test.echo", echo)
    job_id = add_job(app, shop_id, "test.echo")
    assert host.webhook("app/uninstalled", {}).status_code == 200
    assert run_pending(app) == 0
    assert job_row(app, job_id)["status"] == "queued"
    host.install()
    assert run_pending(app) == 1
    assert job_row(app, job_id)["status"] == "succeeded"


# --- Leases, crashes and retries -------------------------------------------------------------


def test_a_job_left_running_by_a_dead_process_is_queued_again(app, shop_id, register):
    register.kind("test.echo", echo)
    job_id = add_job(app, shop_id, "test.echo", {"a": 1})
    with app.app_context():
        dead = claim_next(lease_seconds=30)  # claimed, then the process was killed
    assert dead is not None and dead.job_id == job_id

    with app.app_context():
        assert requeue_expired() == 0  # its lease still holds: nobody else may take it
    assert run_pending(app) == 0

    later = utcnow() + timedelta(seconds=31)
    tick(app, now=later, only=[])
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["claim_token"]) == ("queued", 1, None)
    assert "stopped before it finished" in row["error"]

    assert run_pending(app, now=later) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["error"]) == ("succeeded", 2, None)
    assert row["result"] == {"echo": {"a": 1}}

    # The dead process's claim counts for nothing any more.
    assert execute(app, dead) == "lost"
    assert job_row(app, job_id)["attempts"] == 2


def test_a_runner_that_lost_its_lease_records_nothing(app, shop_id, register):
    reported: list[int] = []
    register.kind("test.progress", lambda job, report: reported.append(job.id) or {"n": 1})
    job_id = add_job(app, shop_id, "test.progress")
    with app.app_context():
        slow = claim_next(lease_seconds=5)
    later = utcnow() + timedelta(seconds=6)
    with app.app_context():
        requeue_expired(later)
        fresh = claim_next(lease_seconds=60, now=later)
    assert fresh is not None and fresh.job_id == job_id
    assert execute(app, slow) == "lost"  # it ran, but its success is not recorded
    row = job_row(app, job_id)
    assert (row["status"], row["claim_token"]) == ("running", fresh.token)
    assert execute(app, fresh) == "succeeded"
    assert job_row(app, job_id)["attempts"] == 2


def test_a_dead_process_s_job_fails_once_its_attempts_are_used_up(app, shop_id, register):
    register.kind("test.echo", echo)
    job_id = add_job(app, shop_id, "test.echo", max_attempts=2)
    now = utcnow()
    for attempt in (1, 2):
        with app.app_context():
            assert claim_next(lease_seconds=10, now=now).attempt == attempt
        now += timedelta(seconds=11)
        tick(app, now=now, only=[])
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"]) == ("failed", 2)
    assert row["error"].startswith("Attempt 2 of 2 stopped before it finished")
    assert row["finished_at"] is not None
    assert run_pending(app, now=now + timedelta(hours=1)) == 0


def test_a_failing_job_is_retried_with_back_off_then_fails(app, shop_id, register):
    calls: list[int] = []

    def boom(job, report):
        calls.append(job.attempts)
        raise RuntimeError(f"boom {len(calls)}")

    register.kind("test.boom", boom)
    job_id = add_job(app, shop_id, "test.boom", max_attempts=3)
    assert run_pending(app) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["error"]) == ("queued", 1, "boom 1")
    wait = (row["available_at"] - utcnow()).total_seconds()
    assert 3 < wait <= 5  # the first retry waits 5 s
    assert run_pending(app) == 0  # not before its time

    assert run_pending(app, now=utcnow() + timedelta(seconds=6)) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"]) == ("queued", 2)
    assert 8 < (row["available_at"] - utcnow()).total_seconds() <= 10  # then 10 s

    assert run_pending(app, now=utcnow() + timedelta(seconds=60)) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 3, "boom 3")
    assert calls == [1, 2, 3]
    assert run_pending(app, now=utcnow() + timedelta(hours=1)) == 0


def test_a_permanent_error_fails_at_once(app, shop_id, register):
    def refuse(job, report):
        raise PermanentJobError("The discount is gone.")

    register.kind("test.refuse", refuse)
    job_id = add_job(app, shop_id, "test.refuse")
    assert run_pending(app) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["error"]) == (
        "failed",
        1,
        "The discount is gone.",
    )


def test_report_commits_work_with_progress_and_a_failure_keeps_it(app, shop_id, register):
    """What ``work`` did before its last report stays; what came after is rolled back."""

    def rename(job, report):
        shop = db.session.get(Shop, job.shop_id)
        shop.name = "Reported"
        report(1)
        shop = db.session.get(Shop, job.shop_id)
        shop.name = "Not reported"
        db.session.flush()
        raise PermanentJobError("stop")

    register.kind("test.rename", rename)
    job_id = add_job(app, shop_id, "test.rename", total=2)
    run_pending(app)
    assert job_row(app, job_id)["progress"] == 1
    with app.app_context():
        assert db.session.get(Shop, shop_id).name == "Reported"


def test_a_long_job_keeps_its_lease_without_reporting(app, shop_id, register):
    # The job outlives its lease by half; the lease is long enough that a heartbeat thread
    # starved of CPU for a while (a loaded machine) is not taken for a dead one.
    register.kind("test.slow", lambda job, report: time.sleep(6) or {"slept": True})
    job_id = add_job(app, shop_id, "test.slow")
    with app.app_context():
        claim = claim_next(lease_seconds=4)  # renewed every second
    worker = threading.Thread(target=execute, args=(app, claim))
    worker.start()
    while worker.is_alive():  # another runner keeps looking for dead processes' jobs
        tick(app, only=[])
        time.sleep(0.2)
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"], row["result"]) == ("succeeded", 1, {"slept": True})


# --- Enqueueing ------------------------------------------------------------------------------


def test_a_key_allows_one_unfinished_job(app, shop_id, register):
    register.kind("test.echo", echo)
    first = add_job(app, shop_id, "test.echo", key="k")
    assert add_job(app, shop_id, "test.echo", key="k") == first
    assert add_job(app, shop_id, "test.echo", key="other") != first
    run_pending(app)
    assert add_job(app, shop_id, "test.echo", key="k") != first  # the first one finished


def test_a_rolled_back_enqueue_leaves_nothing(app, shop_id, register):
    register.kind("test.echo", echo)
    with app.app_context():
        enqueue(shop_id, "test.echo", {})
        db.session.rollback()
        assert db.session.execute(select(Job.id)).first() is None
    with pytest.raises(ValueError, match="unknown job kind"), app.app_context():
        enqueue(shop_id, "test.nobody", {})


def test_a_commit_wakes_this_process_s_runner(app, shop_id, register):
    register.kind("test.echo", echo)
    woken: list[bool] = []

    class Listening:
        def wake(self):
            woken.append(True)

    jobs_state(app).runner = Listening()
    try:
        with app.app_context():
            enqueue(shop_id, "test.echo", {})
            db.session.rollback()
            assert woken == []  # rolled back: nothing to run
            enqueue(shop_id, "test.echo", {})
            assert woken == []  # not before the commit: nobody could see it yet
            db.session.commit()
            assert woken == [True]
    finally:
        jobs_state(app).runner = None


# --- The schedule ----------------------------------------------------------------------------


def test_a_periodic_task_runs_once_per_period_however_many_runners(app, register):
    calls: list[int] = []
    register.periodic("test.every_minute", 60, lambda: calls.append(1))
    now = utcnow()

    def race(at):
        start = threading.Barrier(3)
        ran: list[list[str]] = []

        def runner():
            start.wait()
            ran.append(tick(app, now=at, only=["test.every_minute"]))

        threads = [threading.Thread(target=runner) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return sorted(ran)

    assert race(now) == [[], [], ["test.every_minute"]]
    assert calls == [1]
    assert tick(app, now=now + timedelta(seconds=59), only=["test.every_minute"]) == []
    assert race(now + timedelta(seconds=60)) == [[], [], ["test.every_minute"]]
    assert calls == [1, 1]
    with app.app_context():
        row = db.session.get(PeriodicRun, "test.every_minute")
        assert (row.runs, row.last_error) == (2, None)
        assert row.next_run_at == now + timedelta(seconds=120)


def test_a_failing_periodic_task_is_recorded_and_runs_next_period(app, register):
    def broken():
        raise RuntimeError("vendor down")

    register.periodic("test.broken", 10, broken)
    now = utcnow()
    assert tick(app, now=now, only=["test.broken"]) == ["test.broken"]
    with app.app_context():
        assert db.session.get(PeriodicRun, "test.broken").last_error == "vendor down"
    assert tick(app, now=now + timedelta(seconds=10), only=["test.broken"]) == ["test.broken"]


def test_built_in_work_is_registered():
    from plugin.jobs.registry import JOB_KINDS, PERIODIC_TASKS

    assert {"codes.generate", "audiences.run", "segments.recompute"} <= set(JOB_KINDS)
    assert {"audiences.due", "segments.relative_dates", "codes.expire_holds"} <= set(PERIODIC_TASKS)


# --- The embedded runner's threads -----------------------------------------------------------


def test_no_runner_under_testing_unless_asked(app):
    assert jobs_state(app).settings.run_jobs is False
    assert start_runner(app) is None


@pytest.fixture
def live_app(tmp_path):
    app = make_app(
        tmp_path,
        CUSTOMER_GROUPS_RUN_JOBS=True,
        CUSTOMER_GROUPS_JOB_POLL_SECONDS=0.05,
        CUSTOMER_GROUPS_JOB_THREADS=2,
    )
    yield app
    stop_runner(app, timeout=5)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_shop_id(live_app) -> int:
    Host(live_app.test_client()).install()
    with live_app.app_context():
        return int(db.session.execute(select(Shop.id)).scalar_one())


def _wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_the_embedded_runner_runs_jobs_and_the_schedule(live_app, live_shop_id, register):
    ticks: list[int] = []
    register.periodic("test.often", 0.1, lambda: ticks.append(1))
    register.kind("test.echo", echo)

    runner = start_runner(live_app)
    assert runner is not None and start_runner(live_app) is runner  # one per process
    job_ids = [add_job(live_app, live_shop_id, "test.echo", {"n": n}) for n in range(10)]
    assert _wait_for(
        lambda: all(job_row(live_app, job_id)["status"] == "succeeded" for job_id in job_ids)
    )
    assert _wait_for(lambda: len(ticks) >= 3)


def test_a_job_claimed_as_the_runner_stops_is_handed_back(
    live_app, live_shop_id, register, monkeypatch
):
    """The runner's dispatcher checks that it may go on, then claims: a stop that lists
    the jobs to hand back between the two missed that claim, which then stayed running
    with nobody to run it until its lease ran out."""
    register.kind("test.echo", echo)
    job_id = add_job(live_app, live_shop_id, "test.echo", {})
    stopped = threading.Event()
    real_claim_next = runner_module.claim_next

    def claim_then_stop(lease_seconds):
        claim = real_claim_next(lease_seconds)
        if claim is not None and not stopped.is_set():
            stopping = threading.Thread(target=stop_runner, args=(live_app,))
            stopping.start()
            stopping.join(10)
            stopped.set()
        return claim

    monkeypatch.setattr(runner_module, "claim_next", claim_then_stop)
    # The stop lists its jobs at once, as when the dispatcher is slower than stop() waits.
    monkeypatch.setattr(runner_module, "DISPATCHER_STOP_SECONDS", 0.0)
    runner = start_runner(live_app)
    assert stopped.wait(10)
    for thread in runner._threads:
        thread.join(10)
    row = job_row(live_app, job_id)
    assert (row["status"], row["attempts"], row["claim_token"]) == ("queued", 0, None)
    assert run_pending(live_app) == 1
    assert job_row(live_app, job_id)["status"] == "succeeded"


def test_a_stop_waits_for_the_claim_the_dispatcher_is_committing(
    live_app, live_shop_id, register, monkeypatch
):
    """A process that stops (gunicorn's worker_exit: stop(), then exit) takes its daemon
    threads with it: the claim the dispatcher is committing must be handed back before
    stop() returns, not after."""
    register.kind("test.echo", echo)
    job_id = add_job(live_app, live_shop_id, "test.echo", {})
    claiming = threading.Event()
    real_claim_next = runner_module.claim_next

    def slow_claim(lease_seconds):
        claim = real_claim_next(lease_seconds)
        if claim is not None:
            claiming.set()
            runner._stopping.wait(10)
            time.sleep(0.3)  # still committing when stop() looks at what it holds
        return claim

    monkeypatch.setattr(runner_module, "claim_next", slow_claim)
    runner = start_runner(live_app)
    assert claiming.wait(10)
    stop_runner(live_app)  # timeout 0, as worker_exit calls it
    row = job_row(live_app, job_id)
    assert (row["status"], row["attempts"], row["claim_token"]) == ("queued", 0, None)


def test_a_graceful_stop_hands_running_jobs_back(live_app, live_shop_id, register):
    started, release = threading.Event(), threading.Event()

    def wait_for_release(job, report):
        started.set()
        release.wait(10)
        report(1)
        return {}

    register.kind("test.blocked", wait_for_release)
    job_id = add_job(live_app, live_shop_id, "test.blocked", total=1)
    start_runner(live_app)
    assert started.wait(10)
    stop_runner(live_app)
    row = job_row(live_app, job_id)
    # Queued again at once for another process, and the interrupted attempt not counted.
    assert (row["status"], row["attempts"], row["claim_token"]) == ("queued", 0, None)
    release.set()
    time.sleep(0.3)  # the old attempt's late report is refused
    assert job_row(live_app, job_id)["progress"] == 0
    assert run_pending(live_app) == 1
    assert job_row(live_app, job_id)["status"] == "succeeded"
