"""Fixtures for job tests: the shop's row id, job kinds and periodic tasks for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.jobs.models import Job
from plugin.jobs.registry import JOB_KINDS, PERIODIC_TASKS, enqueue, job_kind, periodic
from plugin.shops.models import Shop
from tests.conftest import SHOP


@pytest.fixture
def shop_id(app: Any, shop: str) -> int:
    with app.app_context():
        return db.session.execute(select(Shop.id).where(Shop.domain == SHOP)).scalar_one()


class Registrations:
    """Register work for one test; everything is unregistered afterwards."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.tasks: list[str] = []

    def kind(self, name: str, work: Callable[..., Any]) -> None:
        job_kind(name)(work)
        self.kinds.append(name)

    def periodic(self, name: str, every: float, run: Callable[[], None]) -> None:
        periodic(name, every)(run)
        self.tasks.append(name)


@pytest.fixture
def register() -> Iterator[Registrations]:
    registrations = Registrations()
    yield registrations
    for name in registrations.kinds:
        JOB_KINDS.pop(name, None)
    for name in registrations.tasks:
        PERIODIC_TASKS.pop(name, None)


def add_job(app: Any, shop_id: int, kind: str, params: dict | None = None, **options: Any) -> int:
    """Enqueue a job in its own committed transaction; its id."""
    with app.app_context():
        job = enqueue(shop_id, kind, params or {}, **options)
        db.session.commit()
        return job.id


def job_row(app: Any, job_id: int) -> dict[str, Any]:
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        row = {column.name: getattr(job, column.name) for column in Job.__table__.columns}
        db.session.rollback()
        return row
