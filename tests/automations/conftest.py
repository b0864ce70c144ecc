"""Factories for automation tests: a discount with a pool, automations, running their jobs."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from sqlalchemy import select

from plugin.automations.runs import RUN_JOB, run_automation_job
from plugin.codes.models import Code
from plugin.db import db
from plugin.jobs.models import Job
from tests.conftest import auth, customer_payload


@pytest.fixture
def make_pool(client, shop):
    numbers = count(1)

    def make(codes=("CODE1", "CODE2"), **fields: Any) -> dict[str, Any]:
        # Names are unique per shop: "Welcome 10%", then "Welcome 10% 2", ...
        number = next(numbers)
        name = "Welcome 10%" if number == 1 else f"Welcome 10% {number}"
        body = {"name": name, "type": "percent", "value": 10, **fields}
        answer = client.post("/api/discounts", json=body, headers=auth())
        assert answer.status_code == 201, answer.get_json()
        discount = answer.get_json()
        if codes:
            add_codes(client, discount["id"], codes)
        return discount

    return make


def add_codes(client, discount_id: int, codes) -> None:
    imported = client.post(
        f"/api/discounts/{discount_id}/codes/import",
        data=("code\n" + "\n".join(codes) + "\n").encode(),
        headers={**auth(), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200 and imported.get_json()["imported"] == len(codes)


@pytest.fixture
def make_automation(client):
    numbers = count(1)

    def make(trigger: dict[str, Any], discount_id: int, **fields: Any) -> dict[str, Any]:
        action = {"type": "give_coupon", "discount_id": discount_id}
        action.update(fields.pop("action", {}))
        number = next(numbers)
        name = "Welcome coupon" if number == 1 else f"Welcome coupon {number}"
        body = {"name": name, "trigger": trigger, "action": action, **fields}
        answer = client.post("/api/automations", json=body, headers=auth())
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    return make


def queued_jobs(app) -> list[dict[str, Any]]:
    with app.app_context():
        jobs = db.session.execute(
            select(Job).where(Job.kind == RUN_JOB, Job.status == "queued").order_by(Job.id)
        ).scalars()
        return [dict(job.params) for job in jobs]


def run_jobs(app) -> list[dict[str, int]]:
    """Do what the job runner does with queued ``automations.run`` jobs (until none is left:
    a coupon given may queue more)."""
    results = []
    with app.app_context():
        while True:
            job = db.session.execute(
                select(Job)
                .where(Job.kind == RUN_JOB, Job.status == "queued")
                .order_by(Job.id)
                .limit(1)
            ).scalar_one_or_none()
            if job is None:
                break
            job.status = "running"
            db.session.commit()

            def report(done: int, job: Job = job) -> None:
                job.progress = done
                db.session.commit()

            results.append(run_automation_job(job, report))
            job.status = "succeeded"
            db.session.commit()
        db.session.remove()
    return results


def create_customer(host, customer_id: str, **fields: Any) -> None:
    answer = host.webhook("customer/created", {"customer": customer_payload(customer_id, **fields)})
    assert answer.status_code == 200, answer.get_json()


def runs(client, automation_id: int, query: str = "") -> dict[str, Any]:
    answer = client.get(f"/api/automations/{automation_id}/runs{query}", headers=auth())
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def assigned(app, discount_id: int) -> dict[str, int | None]:
    """code → the customer row it is assigned to."""
    with app.app_context():
        rows = db.session.execute(
            select(Code.code, Code.assigned_customer_id).where(
                Code.discount_id == discount_id, Code.status == "assigned"
            )
        ).all()
        return dict(rows)


def buyers_segment(client) -> int:
    """A segment of the customers with at least one order; its id."""
    answer = client.post(
        "/api/segments",
        json={
            "name": "Buyers",
            "match": "all",
            "conditions": [{"field": "total_order_count", "op": "gte", "value": 1}],
        },
        headers=auth(),
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]
