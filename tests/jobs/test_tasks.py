"""The features' background work on the job interface: codes, audiences, segments, holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from plugin.codes import generation
from plugin.codes import tasks as code_tasks
from plugin.codes.models import Code, Redemption
from plugin.db import db, utcnow
from plugin.jobs import run_pending, tasks, tick
from plugin.jobs.models import Job
from plugin.jobs.registry import PERIODIC_TASKS
from plugin.segments.models import SegmentMember
from tests.conftest import auth, customer_payload
from tests.jobs.conftest import job_row


def make_discount(client, **fields):
    body = {"name": "Welcome", "type": "percent", "value": 10, **fields}
    answer = client.post("/api/discounts", json=body, headers=auth())
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def code_count(app, discount_id):
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(Code).where(Code.discount_id == discount_id)
        ).scalar_one()


def jobs_of(app, kind):
    with app.app_context():
        return list(db.session.execute(select(Job.id).where(Job.kind == kind)).scalars())


# --- Codes -----------------------------------------------------------------------------------


class Killed(BaseException):
    """The process dies: nothing after this runs, nothing uncommitted survives."""


def test_generation_killed_halfway_resumes_to_the_exact_count(app, client, shop, monkeypatch):
    monkeypatch.setattr(generation, "BATCH_SIZE", 1000)
    discount = make_discount(client)
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 10_500, "length": 10, "prefix": "W-"},
        headers=auth(),
    )
    assert answer.status_code == 202
    job = answer.get_json()
    assert (job["kind"], job["status"], job["total"]) == ("codes.generate", "queued", 10_500)

    real = code_tasks.generate_codes

    def dies_after_three_batches(*args, progress, **kwargs):
        batches = 0

        def counted(done, total):
            nonlocal batches
            progress(done, total)
            batches += 1
            if batches == 3:
                raise Killed

        return real(*args, progress=counted, **kwargs)

    monkeypatch.setattr(code_tasks, "generate_codes", dies_after_three_batches)
    with pytest.raises(Killed):
        run_pending(app)
    row = job_row(app, job["id"])
    assert (row["status"], row["progress"]) == ("running", 3000)
    assert code_count(app, discount["id"]) == 3000  # exactly what its progress says

    monkeypatch.setattr(code_tasks, "generate_codes", real)
    later = utcnow() + timedelta(seconds=61)
    tick(app, now=later, only=[])
    assert run_pending(app, now=later) == 1
    done = client.get(f"/api/jobs/{job['id']}", headers=auth()).get_json()
    assert (done["status"], done["attempts"], done["progress"]) == ("succeeded", 2, 10_500)
    assert done["result"] == {"generated": 10_500, "warnings": []}
    assert code_count(app, discount["id"]) == 10_500


def test_generation_for_a_deleted_discount_fails_with_the_reason(app, client, shop):
    discount = make_discount(client)
    answer = client.post(
        f"/api/discounts/{discount['id']}/codes/generate",
        json={"count": 10_001},
        headers=auth(),
    )
    assert client.delete(f"/api/discounts/{discount['id']}", headers=auth()).status_code == 204
    run_pending(app)
    row = job_row(app, answer.get_json()["id"])
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "was not found" in row["error"]


def test_expired_holds_give_their_uses_back_every_minute(app, client, host, shop):
    from tests.codes.conftest import redeem_body

    make_discount(client, code="ONCE", usage_limit=1)
    assert host.webhook("customer/created", {"customer": customer_payload("c_1")})
    answer = host.post("/hooks/checkout/redeem", redeem_body("o_1", ["ONCE"]))
    assert answer.get_json()["codes"][0]["status"] == "applied", answer.get_json()
    now = utcnow()
    assert tick(app, now=now, only=["codes.expire_holds"]) == ["codes.expire_holds"]
    with app.app_context():
        assert db.session.execute(select(Redemption.status)).scalar_one() == "held"
        db.session.execute(update(Redemption).values(expires_at=now - timedelta(seconds=1)))
        db.session.commit()
    assert tick(app, now=now + timedelta(seconds=30), only=["codes.expire_holds"]) == []
    assert tick(app, now=now + timedelta(seconds=60), only=["codes.expire_holds"]) == [
        "codes.expire_holds"
    ]
    with app.app_context():
        assert db.session.execute(select(Redemption.status)).scalar_one() == "expired"
        assert db.session.execute(select(Code.times_used)).scalar_one() == 0


# --- Segments --------------------------------------------------------------------------------


def make_segment(client, name, conditions):
    answer = client.post(
        "/api/segments", json={"name": name, "match": "all", "conditions": conditions},
        headers=auth(),
    )  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_relative_date_segments_are_recomputed_once_a_day(app, client, host, shop):
    recent = (utcnow() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for customer_id in ("c_1", "c_2"):
        payload = customer_payload(customer_id, registered_at=recent)
        assert host.webhook("customer/created", {"customer": payload}).status_code == 200
    relative = make_segment(
        client, "New", [{"field": "registration_date", "op": "after", "value": "-30d"}]
    )
    make_segment(
        client, "Fixed", [{"field": "registration_date", "op": "after", "value": "2020-01-01"}]
    )
    assert relative["member_count"] == 2
    with app.app_context():  # membership gone stale, as when the calendar moves on
        db.session.execute(delete(SegmentMember).where(SegmentMember.segment_id == relative["id"]))
        db.session.commit()

    assert tick(app, only=["segments.relative_dates"]) == ["segments.relative_dates"]
    [job_id] = jobs_of(app, "segments.recompute")
    row = job_row(app, job_id)
    assert row["params"] == {"segment_ids": [relative["id"]]}  # the fixed one needs nothing
    assert run_pending(app) == 1
    row = job_row(app, job_id)
    assert (row["status"], row["result"]) == (
        "succeeded",
        {"segments": 1, "joined": 2, "left": 0},
    )
    again = client.get(f"/api/segments/{relative['id']}", headers=auth()).get_json()
    assert again["member_count"] == 2

    later = utcnow() + timedelta(hours=1, seconds=1)
    assert tick(app, now=later, only=["segments.relative_dates"]) == ["segments.relative_dates"]
    assert jobs_of(app, "segments.recompute") == [job_id]  # same day: not again


# --- Audiences -------------------------------------------------------------------------------


@pytest.fixture
def meta_destination(httpserver):
    from tests.audiences.test_meta import USERS_PATH, accept_all, meta

    httpserver.expect_request(USERS_PATH, method="POST").respond_with_handler(accept_all)
    return meta(httpserver)


def test_a_large_manual_run_is_a_job(app, client, shop, meta_destination):
    from tests.audiences.conftest import add_customers, audience_body, create_audience, run

    add_customers(app, [{"external_id": f"c_{i}", "email": f"m{i}@example.com"} for i in range(5)])
    app.config["CUSTOMER_GROUPS_AUDIENCE_INLINE_LIMIT"] = 2  # 5 members: too many to wait for
    audience = create_audience(client, audience_body(app, meta_destination, schedule="manual"))
    queued = run(client, audience["id"])
    assert queued.status_code == 202 and queued.get_json()["status"] == "queued"
    [job_id] = jobs_of(app, "audiences.run")
    assert run(client, audience["id"]).get_json()["id"] == queued.get_json()["id"]
    assert jobs_of(app, "audiences.run") == [job_id]  # one job per run

    assert run_pending(app) == 1
    answer = client.get(
        f"/api/audiences/{audience['id']}/runs/{queued.get_json()['id']}", headers=auth()
    ).get_json()
    assert (answer["status"], answer["synced"]) == ("succeeded", 5)
    assert job_row(app, job_id)["result"]["status"] == "succeeded"


def test_scheduled_audiences_are_queued_every_minute(app, client, shop, meta_destination):
    from tests.audiences.conftest import add_customers, audience_body, create_audience

    add_customers(app, [{"external_id": "c_1", "email": "ada@example.com"}])
    audience = create_audience(client, audience_body(app, meta_destination, schedule="daily"))
    assert tick(app, only=["audiences.due"]) == ["audiences.due"]
    [job_id] = jobs_of(app, "audiences.run")
    assert run_pending(app) == 1
    runs = client.get(f"/api/audiences/{audience['id']}/runs", headers=auth()).get_json()
    assert [(r["status"], r["synced"]) for r in runs["items"]] == [("succeeded", 1)]

    later = utcnow() + timedelta(minutes=1)
    assert tick(app, now=later, only=["audiences.due"]) == ["audiences.due"]
    assert jobs_of(app, "audiences.run") == [job_id]  # ran today: not due again yet


# --- Jobs themselves -------------------------------------------------------------------------


def test_finished_jobs_are_pruned_after_the_retention_period(app, shop_id):
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    rows = [
        ("succeeded", old),  # pruned
        ("failed", old),  # pruned
        ("succeeded", recent),
        ("failed", recent),
        ("queued", old),  # never, however old: still owed its run (the finished_at of
        ("running", old),  # an attempt that failed and will be retried)
    ]
    with app.app_context():
        for number, (status, finished_at) in enumerate(rows):
            db.session.add(
                Job(
                    shop_id=shop_id,
                    kind="test.pruned",
                    params={"n": number},
                    status=status,
                    finished_at=finished_at,
                    created_at=old,
                    available_at=old,
                )
            )
        db.session.commit()
        assert tasks.prune_jobs(now) == 2
        kept = db.session.execute(select(Job.params).order_by(Job.id)).scalars().all()
        assert [params["n"] for params in kept] == [2, 3, 4, 5]
        app.config["CUSTOMER_GROUPS_JOB_RETENTION_DAYS"] = 7
        assert tasks.prune_jobs(now) == 2
    assert "jobs.prune" in PERIODIC_TASKS
