"""Queue mode: job ids go to RQ on Redis; workers elsewhere run them from the job rows.

Runs against the Redis named by ``CUSTOMER_GROUPS_TEST_REDIS_URL`` (CI: the local server,
database 5, or 5 + i for the xdist worker gw<i>, which these tests flush); skipped without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from plugin.codes.models import Code
from plugin.db import db, utcnow
from plugin.jobs.claims import claim_job
from plugin.jobs.queue import push, rq_queue, sweep
from plugin.jobs.schedule import tick
from plugin.jobs.worker import run_worker
from plugin.shops.models import Shop
from tests.conftest import SECRET, Host, auth, make_app
from tests.jobs.conftest import add_job, job_row

REDIS_URL = os.environ.get("CUSTOMER_GROUPS_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs CUSTOMER_GROUPS_TEST_REDIS_URL (a Redis database to flush)"
)


@pytest.fixture
def redis():
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def app(tmp_path, redis):
    app = make_app(tmp_path, CUSTOMER_GROUPS_JOB_QUEUE="rq", CUSTOMER_GROUPS_REDIS_URL=REDIS_URL)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def queued_in_redis(app):
    return rq_queue(app).count


def test_code_generation_goes_through_rq_end_to_end(app, client, shop):
    discount = client.post(
        "/api/discounts", json={"name": "Pool", "type": "percent", "value": 5}, headers=auth()
    ).get_json()
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 12_000, "length": 9},
        headers=auth(),
    )
    assert answer.status_code == 202
    job_id = answer.get_json()["id"]
    assert queued_in_redis(app) == 1  # pushed once the request's transaction committed
    assert job_row(app, job_id)["pushed_at"] is not None

    assert run_worker(app, burst=True) is True
    job = client.get(f"/api/jobs/{job_id}", headers=auth()).get_json()
    assert (job["status"], job["progress"], job["attempts"]) == ("succeeded", 12_000, 1)
    assert job["result"] == {"generated": 12_000, "warnings": []}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Code)).scalar_one() == 12_000
    assert queued_in_redis(app) == 0


def test_an_id_delivered_twice_runs_once(app, shop_id, register):
    runs: Counter[int] = Counter()
    register.kind("test.count", lambda job, report: runs.update([job.id]) or {"ok": True})
    job_id = add_job(app, shop_id, "test.count")
    push(app, [job_id, job_id])  # at-least-once delivery: the same id arrives again
    run_worker(app, burst=True)
    assert runs == Counter({job_id: 1})
    assert job_row(app, job_id)["status"] == "succeeded"


def test_a_push_lost_with_redis_is_pushed_again_by_the_scheduler(app, redis, shop_id, register):
    register.kind("test.echo", lambda job, report: {"ok": True})
    job_id = add_job(app, shop_id, "test.echo")
    redis.flushdb()  # Redis restarted without persistence: the id is gone
    run_worker(app, burst=True)
    assert job_row(app, job_id)["status"] == "queued"

    with app.app_context():
        assert sweep(app) == 0  # pushed a moment ago: not yet suspicious
        assert sweep(app, utcnow() + timedelta(seconds=31)) == 1
        assert sweep(app, utcnow() + timedelta(seconds=31)) == 0  # RQ holds it now
    run_worker(app, burst=True)
    assert job_row(app, job_id)["status"] == "succeeded"


def test_a_job_whose_worker_died_is_pushed_again_after_its_lease(app, shop_id, register):
    register.kind("test.echo", lambda job, report: {"ok": True})
    job_id = add_job(app, shop_id, "test.echo")
    rq_queue(app).empty()
    with app.app_context():
        assert claim_job(job_id, lease_seconds=1) is not None  # then the worker died
    time.sleep(1.2)
    tick(app, only=[])  # requeues the job and hands it to RQ again
    assert queued_in_redis(app) == 1
    run_worker(app, burst=True)
    row = job_row(app, job_id)
    assert (row["status"], row["attempts"]) == ("succeeded", 2)


def test_a_worker_stops_at_once_when_its_pubsub_thread_has_gone_quiet(app):
    """A worker joins its pubsub thread for at most 1 s as it stops (RQ 3). redis-py 8.2 made
    ``PubSubWorkerThread.stop`` join it without a limit, and a thread that has already read
    its unsubscribe reply waits 60 s (RQ's ``sleep_time``) for a subscription that never
    comes: a burst worker, or any worker told to stop, then hung a minute, one stop in two
    (a 62 s test, and a job row that looked lost to the sweep). pyproject.toml keeps redis
    below 8.2 until RQ bounds the wait itself."""
    from rq import SimpleWorker

    queue = rq_queue(app)
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    time.sleep(0.5)  # the thread reads the reply, then waits for a subscription
    stopped = threading.Event()
    threading.Thread(target=lambda: (worker.unsubscribe(), stopped.set()), daemon=True).start()
    assert stopped.wait(10), "the worker waited on its pubsub thread"


def test_the_scheduler_runs_periodic_tasks(app, register):
    calls: list[int] = []
    register.periodic("test.hourly", 3600, lambda: calls.append(1))
    run_worker(app, burst=True, with_scheduler=True)
    run_worker(app, burst=True, with_scheduler=True)
    assert calls == [1]


def worker_command(app, *options):
    """``customer-groups worker`` in a process of its own, as on another machine."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("CUSTOMER_GROUPS_")
    }
    env.update(
        CUSTOMER_GROUPS_DATABASE_URL=app.config["CUSTOMER_GROUPS_DATABASE_URL"],
        CUSTOMER_GROUPS_APP_SECRET=SECRET,
        CUSTOMER_GROUPS_JOB_QUEUE="rq",
        CUSTOMER_GROUPS_REDIS_URL=REDIS_URL,
        CUSTOMER_GROUPS_LOG_LEVEL="WARNING",
    )
    interpreter = [sys.executable, *(["-S"] if sys.flags.no_site else [])]
    return subprocess.Popen(
        [*interpreter, "-m", "plugin.cli", "worker", *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_worker_processes_racing_on_one_queue_run_each_job_once(app, client, shop, shop_id):
    from plugin.codes.tasks import enqueue_generation

    discount = client.post(
        "/api/discounts", json={"name": "Pool", "type": "percent", "value": 5}, headers=auth()
    ).get_json()
    with app.app_context():
        ids = []
        for _ in range(20):
            shop_row = db.session.get(Shop, shop_id)
            ids.append(enqueue_generation(shop_row, discount["id"], GENERATE).id)
            db.session.commit()
    push(app, ids)  # at-least-once delivery: every id is in the queue twice
    workers = [worker_command(app, "--burst", *extra) for extra in ([], [], ["--with-scheduler"])]
    for worker in workers:
        _, stderr = worker.communicate(timeout=180)
        assert worker.returncode == 0, stderr[-3000:]
    rows = [job_row(app, job_id) for job_id in ids]
    assert {(row["status"], row["attempts"]) for row in rows} == {("succeeded", 1)}
    with app.app_context():
        made = db.session.execute(select(func.count()).select_from(Code)).scalar_one()
    assert made == 20 * GENERATE["count"]  # no job ran twice


GENERATE = {"count": 25, "length": 12, "prefix": None, "suffix": None, "charset": None}


def test_enqueueing_never_fails_when_redis_is_down(tmp_path):
    app = make_app(
        tmp_path,
        CUSTOMER_GROUPS_JOB_QUEUE="rq",
        CUSTOMER_GROUPS_REDIS_URL="redis://127.0.0.1:1/0",  # nothing listens there
    )
    client = app.test_client()
    Host(client).install()
    discount = client.post(
        "/api/discounts", json={"name": "Pool", "type": "percent", "value": 5}, headers=auth()
    ).get_json()
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 10_001},
        headers=auth(),
    )
    assert answer.status_code == 202  # the job is saved; the scheduler pushes it later
    assert job_row(app, answer.get_json()["id"])["status"] == "queued"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
