"""One transaction rule: operations never commit; the boundary commits once.

The boundaries are our blueprints' views (``plugin.db.BoundaryBlueprint``: an answer below
400 commits, any other answer or an exception rolls back), in-process signals, CLI
commands and job steps (``plugin.db.unit_of_work``, a job's ``report`` checkpoint).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import jsonify
from sqlalchemy import func, select

from plugin.db import BoundaryBlueprint, after_commit, db, enter_shop, unit_of_work
from plugin.groups.models import Group
from plugin.shops.models import Shop
from tests.conftest import SHOP, make_app

ROOT = Path(__file__).resolve().parents[1]

#: Where a commit may be written: the boundaries themselves.
BOUNDARIES = (
    "plugin/db.py",  # BoundaryBlueprint, unit_of_work, commit()
    "plugin/jobs/",  # the job machinery: claims, leases, checkpoints, the schedule
    "plugin/outbox/delivery.py",  # the delivery job: a lease-fenced step per batch
    "plugin/cli/",  # each command is a unit of work
)


def _may_commit(path: str) -> bool:
    return path.startswith(BOUNDARIES) or path.endswith("/tasks.py")  # a job's own steps


def test_operations_never_commit():
    offenders = []
    for package in ("plugin", "hooks", "admin_ui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if _may_commit(relative):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                # A savepoint's commit releases it inside the boundary's transaction.
                committed = re.search(r"(?<!savepoint)\.commit\(\)", line)
                if committed and not line.lstrip().startswith("#"):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "commit outside a boundary:\n" + "\n".join(offenders)


@pytest.fixture
def boundary_app(tmp_path):
    app = make_app(tmp_path)
    pages = BoundaryBlueprint("boundary_test", __name__, url_prefix="/boundary-test")

    def add_group(name: str) -> None:
        shop = db.session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
        enter_shop(shop.id)
        db.session.add(Group(shop_id=shop.id, name=name, name_key=name.lower()))
        db.session.flush()

    @pages.post("/<name>/<int:status>")
    def answer(name: str, status: int):
        add_group(name)
        return jsonify({"name": name}), status

    @pages.post("/<name>/raise")
    def fail(name: str):
        add_group(name)
        raise RuntimeError("after a write")

    app.register_blueprint(pages)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _groups(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(select(Group.name)).scalars())


def test_a_view_commits_once_when_it_answers_below_400(boundary_app):
    from tests.conftest import Host

    Host(boundary_app.test_client()).install()
    client = boundary_app.test_client()
    assert client.post("/boundary-test/kept/201").status_code == 201
    assert client.post("/boundary-test/refused/422").status_code == 422
    assert client.post("/boundary-test/broken/raise").status_code == 500
    assert _groups(boundary_app) == {"Standard", "kept"}


def test_a_unit_of_work_commits_then_runs_what_waited(boundary_app):
    from tests.conftest import Host

    Host(boundary_app.test_client()).install()
    ran = []
    with boundary_app.app_context():
        shop_id = db.session.execute(select(Shop.id)).scalar_one()
        with unit_of_work():
            enter_shop(shop_id)
            db.session.add(Group(shop_id=shop_id, name="signal", name_key="signal"))
            after_commit(lambda: ran.append(db.session().in_transaction()))
        assert ran == [False]  # after the commit, no transaction open
        with pytest.raises(RuntimeError), unit_of_work():
            db.session.add(Group(shop_id=shop_id, name="lost", name_key="lost"))
            after_commit(lambda: ran.append("never"))
            raise RuntimeError
        assert ran == [False]
        count = db.session.execute(select(func.count()).select_from(Group)).scalar_one()
        assert count == 2  # Standard and signal
