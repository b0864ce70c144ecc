"""A duplicate name is a 422 (contract §5) for discounts, rules and automations too."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import JSON, Column, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from plugin.codes.models import Discount
from plugin.db import db, utcnow
from plugin.extension import create_app
from plugin.rules.models import PriceRule
from plugin.schema import upgrade_schema as upgrade
from tests.conftest import PG_URL, SECRET, auth
from tests.rules.helpers import Admin, error, price_rule

OTHER = "other.example"


def _discount(admin: Admin) -> dict[str, Any]:
    return {"type": "percent", "value": 10}


def _automation(admin: Admin) -> dict[str, Any]:
    """An automation needs a discount with a pool of codes to give from."""
    discount = admin.create("/discounts", {"name": "Pool", "type": "percent", "value": 10})
    imported = admin.client.post(
        f"/api/discounts/{discount['id']}/codes/import",
        data=b"code\nC1\nC2\n",
        headers={**auth(admin.shop), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.get_json()
    return {
        "trigger": {"type": "order_paid"},
        "action": {"type": "give_coupon", "discount_id": discount["id"]},
    }


def _fixed(body: dict[str, Any]) -> Callable[[Admin], dict[str, Any]]:
    return lambda admin: body


RESOURCES = {
    "discounts": ("discount", _discount),
    "price-rules": ("price rule", _fixed({k: v for k, v in price_rule().items() if k != "name"})),
    "bundles": (
        "bundle",
        _fixed(
            {
                "items": [{"product_id": "p1", "quantity": 2}],
                "price": {"type": "fixed_total", "value": 4500},
            }
        ),
    ),
    "gift-rules": (
        "gift rule",
        _fixed(
            {
                "trigger": {"type": "subtotal", "min": 10000},
                "gift": {"product_id": "p9", "quantity": 1},
            }
        ),
    ),
    "benefit-programmes": (
        "benefit programme",
        _fixed(
            {
                "conditions": [],
                "tiers": [
                    {"min_subtotal": 0, "actions": [{"type": "percent_off_order", "value": 5}]}
                ],
            }
        ),
    ),
    "automations": ("automation", _automation),
}


@pytest.fixture(params=sorted(RESOURCES))
def resource(request, client, shop):
    """``(admin, path, make)``: ``make(name)`` posts one object of the resource."""
    path = request.param
    what, body_of = RESOURCES[path]
    admin = Admin(client)
    body = body_of(admin)

    def make(name: str, on: Admin = admin) -> Any:
        return on.post(f"/{path}", {**body, "name": name})

    return admin, path, what, body_of, make


def _taken(response: Any, what: str) -> None:
    assert response.status_code == 422, response.get_json()
    found = error(response)
    article = "An" if what[0] in "aeiou" else "A"
    assert found["code"] == "validation_failed"
    assert found["details"] == {"name": [f"{article} {what} with this name already exists."]}


def test_creating_a_second_object_with_the_same_name_is_a_422(resource):
    admin, path, what, _, make = resource
    first = make("Summer deal")
    assert first.status_code == 201, first.get_json()
    for same in ("Summer deal", "SUMMER DEAL", "  summer Deal  "):
        _taken(make(same), what)
    listed = admin.get(f"/{path}").get_json()
    assert [item["name"] for item in listed["items"]] == ["Summer deal"]


def test_renaming_onto_another_name_is_a_422_and_changes_nothing(resource):
    admin, path, what, _, make = resource
    make("Summer deal")
    winter = make("Winter deal").get_json()
    _taken(admin.patch(f"/{path}/{winter['id']}", {"name": " summer DEAL"}), what)
    assert admin.get(f"/{path}/{winter['id']}").get_json()["name"] == "Winter deal"
    # Its own name, in another case, is not someone else's.
    renamed = admin.patch(f"/{path}/{winter['id']}", {"name": "WINTER deal "})
    assert renamed.status_code == 200, renamed.get_json()
    assert renamed.get_json()["name"] == "WINTER deal"
    # A name that became free may be taken.
    assert make("Winter deal").status_code == 422
    assert admin.patch(f"/{path}/{winter['id']}", {"name": "Autumn deal"}).status_code == 200
    assert make("winter deal").status_code == 201


def test_another_shop_may_use_the_same_name(resource, host):
    admin, path, _, body_of, make = resource
    assert make("Summer deal").status_code == 201
    host.install(OTHER)
    other = Admin(admin.client, OTHER)
    created = other.post(f"/{path}", {**body_of(other), "name": "summer deal"})
    assert created.status_code == 201, created.get_json()


def test_a_lost_race_is_the_same_422(resource, monkeypatch):
    """Two requests that both passed the check: the unique constraint answers the second."""
    admin, path, what, _, make = resource
    for module in ("codes", "rules", "automations"):
        monkeypatch.setattr(f"plugin.{module}.operations.check_name_free", lambda *a, **k: None)
    make("Summer deal")
    _taken(make("summer deal"), what)
    winter = make("Winter deal").get_json()
    _taken(admin.patch(f"/{path}/{winter['id']}", {"name": "SUMMER DEAL"}), what)
    assert admin.get(f"/{path}/{winter['id']}").get_json()["name"] == "Winter deal"
    assert admin.get(f"/{path}").get_json()["total"] == 2


# The migration ---------------------------------------------------------------------------


def _as_at_0007(model: Any) -> Table:
    """The model's table as it was at revision 0007: its columns (with their defaults) and
    the JSON list of audience ids that migration 0013 turned into link rows."""
    old = model.__table__.to_metadata(MetaData())
    old.append_column(Column("audience_ids", JSON, nullable=False, default=list))
    return old


def _migrate_with_clashes(url: str) -> dict[str, list[tuple[str, str]]]:
    """Rows written at 0007 with clashing names, then upgraded: their names and keys."""
    app = create_app(
        {"TESTING": True, "CUSTOMER_GROUPS_APP_SECRET": SECRET, "CUSTOMER_GROUPS_DATABASE_URL": url}
    )
    with app.app_context():
        upgrade(revision="0007")
        # The tables as they are at 0007: no name_key yet, audiences as JSON id lists (and
        # shops without the columns added since, such as locale).
        tables = MetaData()
        shop_table = Table("shops", tables, autoload_with=db.session.connection())
        shops = [
            db.session.execute(
                insert(shop_table)
                .values(domain=domain, name="", currency="EUR", timezone="UTC",
                        installed=True, installed_at=utcnow(), rules_version=0)
                .returning(shop_table.c.id)
            ).scalar_one()  # fmt: skip
            for domain in ("a.example", "b.example")
        ]
        discounts = Table("discounts", tables, autoload_with=db.session.connection())
        price_rules = Table("price_rules", tables, autoload_with=db.session.connection())
        common = {"audience_type": "all", "audience_ids": [], "active": True}
        common.update(created_at=utcnow(), updated_at=utcnow())
        discount = {
            **common, "type": "percent", "value": 100, "applies_to": "products", "carriers": [],
            "once_per_customer": False, "minimum_type": "none", "minimum_value": 0,
            "payment_methods": [], "channels": [],
        }
        for name in ("Sale", "SALE ", "Sale (2)", "sale", "Other"):
            db.session.execute(insert(discounts).values(shop_id=shops[0], name=name, **discount))
        db.session.execute(insert(discounts).values(shop_id=shops[1], name="sale", **discount))
        rule = {**common, "scope_type": "all", "scope_ids": [], "priority": 0}
        for name in ("VIP", "vip"):
            db.session.execute(
                insert(price_rules).values(
                    shop_id=shops[0], name=name, action_type="discount_fixed", action_value=1,
                    **rule,
                )
            )
        db.session.commit()
        db.session.close()
        upgrade()
        found = {
            model.__tablename__: [
                (row.name, row.name_key)
                for row in db.session.execute(
                    select(model.name, model.name_key).order_by(model.id)
                ).all()
            ]
            for model in (Discount, PriceRule)
        }
        db.session.close()
        db.engine.dispose()
    return found


EXPECTED = {
    "discounts": [
        ("Sale", "sale"),
        ("SALE (3)", "sale (3)"),  # " (2)" is another row's name
        ("Sale (2)", "sale (2)"),
        ("sale (4)", "sale (4)"),
        ("Other", "other"),
        ("sale", "sale"),  # another shop
    ],
    "price_rules": [("VIP", "vip"), ("vip (2)", "vip (2)")],
}


def test_the_migration_renames_clashing_names_on_sqlite(tmp_path):
    assert _migrate_with_clashes(f"sqlite:///{tmp_path}/clashes.sqlite") == EXPECTED


@pytest.mark.skipif(not PG_URL, reason="needs CUSTOMER_GROUPS_TEST_DATABASE_URL (PostgreSQL)")
def test_the_migration_renames_clashing_names_on_postgresql():
    name = f"cg_names_{uuid.uuid4().hex[:10]}"
    server = make_url(PG_URL)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(False)
        assert _migrate_with_clashes(url) == EXPECTED
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The admin pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "form", "message"),
    [
        ("/admin/discounts/new", "DISCOUNT", "A discount with this name already exists."),
        (
            "/admin/rules/price-rules/new",
            "PRICE_RULE",
            "A price rule with this name already exists.",
        ),
    ],
)
def test_the_admin_pages_show_a_taken_name_next_to_the_field(client, shop, path, form, message):
    from tests import test_admin_ui_more as ui

    body = getattr(ui, form)
    pages = ui.AdminPages(client)
    assert pages.post(path, body).status_code == 303
    # Another code, so that only the name clashes.
    again = pages.post(path, {**body, "name": body["name"].upper(), "code": "OTHER1"})
    assert again.status_code == 422
    assert ui.field_errors(again.get_data(as_text=True), "name") == [message]


def test_a_longest_name_that_folds_longer_is_kept(resource):
    """'ß' folds to 'ss': a 255-character name makes a 510-character key, cut to fit."""
    _, _, what, _, make = resource
    first = make("ß" * 255)
    assert first.status_code == 201, first.get_json()
    _taken(make("ß" * 255), what)


def test_a_longest_group_name_that_folds_longer_is_kept(client, shop):
    created = Admin(client).post("/groups", {"name": "ß" * 64, "colour": "#112233"})
    assert created.status_code == 201, created.get_json()
