"""Fixtures for audience tests: customers in bulk, audiences through the API, no real sleeping."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from plugin import outgoing
from plugin.customers.models import Customer, CustomerTag
from plugin.db import db
from plugin.groups.models import Group
from plugin.shops.models import Shop
from tests.conftest import SHOP, auth


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Waits the retry policy asked for, instead of waiting."""
    asked: list[float] = []
    monkeypatch.setattr(outgoing, "sleep", asked.append)
    return asked


def default_group(app: Any, domain: str = SHOP) -> int:
    with app.app_context():
        return db.session.execute(
            select(Group.id)
            .join(Shop, Shop.id == Group.shop_id)
            .where(Shop.domain == domain, Group.is_default.is_(True))
        ).scalar_one()


def add_customers(app: Any, rows: list[dict[str, Any]], domain: str = SHOP) -> None:
    """Insert customers directly (tens of thousands would take too long through webhooks).

    Each row: ``external_id`` plus any Customer column; ``tags`` become CustomerTag rows.
    """
    group_id = default_group(app, domain)
    with app.app_context():
        shop_id = db.session.execute(select(Shop.id).where(Shop.domain == domain)).scalar_one()
        values = []
        for row in rows:
            row = dict(row)
            row.pop("tags", None)
            values.append(
                {
                    "shop_id": shop_id,
                    "group_id": group_id,
                    "email": None,
                    "phone": None,
                    "points": 0,
                    "accepts_marketing": False,
                    "type": "individual",
                    "order_count": 0,
                    "total_spent": 0,
                    "used_discount_code": False,
                    **row,
                }
            )
        db.session.execute(insert(Customer), values)
        tagged = [row for row in rows if row.get("tags")]
        if tagged:
            ids = dict(
                db.session.execute(
                    select(Customer.external_id, Customer.id).where(Customer.shop_id == shop_id)
                ).all()
            )
            db.session.execute(
                insert(CustomerTag),
                [
                    {
                        "customer_id": ids[row["external_id"]],
                        "shop_id": shop_id,
                        "tag": tag,
                        "tag_key": tag.casefold(),
                    }
                    for row in tagged
                    for tag in row["tags"]
                ],
            )
        db.session.commit()


def create_audience(client: Any, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post("/api/audiences", json=body, headers=auth())
    assert response.status_code == status, response.get_json()
    return response.get_json()


def audience_body(app: Any, destination: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Discount shoppers",
        "source": {"type": "group", "id": default_group(app)},
        "destination": destination,
        "mapping": {"identifier": "email", "properties": {}},
        "schedule": "daily",
    }
    body.update(fields)
    return body


def run(client: Any, audience_id: int) -> Any:
    return client.post(f"/api/audiences/{audience_id}/run", headers=auth())
