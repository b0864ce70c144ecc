"""``due_audiences(now)``: which audiences the background runner should run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from plugin.audiences.models import Audience, AudienceRun
from plugin.audiences.sync import due_audiences
from plugin.db import db
from plugin.shops.models import Shop
from tests.audiences.conftest import default_group

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add(shop_id, group_id, name, schedule, last_run_at, active=True):
    audience = Audience(
        shop_id=shop_id,
        name=name,
        name_key=name.casefold(),
        source_type="group",
        source_id=group_id,
        destination_type="klaviyo",
        sealed_credentials="",
        list_id="L",
        mapping={"identifier": "email", "properties": {}},
        schedule=schedule,
        active=active,
        last_run_at=last_run_at,
    )
    db.session.add(audience)
    return audience


def test_due_by_schedule_and_last_run(app, host, shop):
    host.install("other.example")
    group_id = default_group(app)
    other_group = default_group(app, "other.example")
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == shop)).scalar_one()
        other_id = db.session.execute(
            select(Shop.id).where(Shop.domain == "other.example")
        ).scalar_one()
        add(shop_id, group_id, "hourly never run", "hourly", None)
        add(shop_id, group_id, "hourly 61 min", "hourly", NOW - timedelta(minutes=61))
        add(shop_id, group_id, "hourly 59 min", "hourly", NOW - timedelta(minutes=59))
        add(shop_id, group_id, "daily 25 h", "daily", NOW - timedelta(hours=25))
        add(shop_id, group_id, "daily 23 h", "daily", NOW - timedelta(hours=23))
        add(shop_id, group_id, "manual", "manual", None)
        add(shop_id, group_id, "inactive", "hourly", None, active=False)
        busy = add(shop_id, group_id, "running", "hourly", NOW - timedelta(hours=3))
        add(other_id, other_group, "uninstalled shop", "hourly", None)
        db.session.flush()
        db.session.add(AudienceRun(shop_id=shop_id, audience_id=busy.id, status="running"))
        db.session.commit()
    host.webhook("app/uninstalled", {}, shop="other.example")

    with app.app_context():
        names = [a.name for a in due_audiences(NOW)]

    assert names == ["hourly never run", "daily 25 h", "hourly 61 min"]
