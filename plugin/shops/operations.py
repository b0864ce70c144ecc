"""Install, uninstall and redaction of shops."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from plugin.db import db, in_shop, shop_scope, utcnow
from plugin.money import DEFAULT_LOCALE, parse_locale
from plugin.shops.models import Shop


def bump_rules_version(shop: Shop) -> None:
    """Tell every process that what the shop's pricing snapshot holds changed: a rule, or a
    group or segment that rules are aimed at (set-based, never read-modify-write)."""
    db.session.execute(
        update(Shop)
        .where(Shop.id == shop.id)
        .values(rules_version=Shop.rules_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(shop, ["rules_version"])


def find_shop(domain: str) -> Shop | None:
    return db.session.execute(select(Shop).where(Shop.domain == domain)).scalar_one_or_none()


def install_shop(domain: str, data: dict[str, Any]) -> Shop:
    """Create or re-activate a shop (its default group is the groups feature's:
    ``plugin.groups.operations.ensure_default_group``)."""
    shop = find_shop(domain)
    fields = {
        "name": data.get("name") or "",
        "currency": data["currency"].upper(),
        "timezone": data.get("timezone") or "UTC",
        "locale": parse_locale(data.get("locale") or DEFAULT_LOCALE) or DEFAULT_LOCALE,
        "api_url": data.get("api_url"),
        "access_token": data.get("access_token"),
        "events_url": data.get("events_url"),
    }
    if shop is None:
        shop = Shop(domain=domain, **fields)
        db.session.add(shop)
    else:
        for key, value in fields.items():
            setattr(shop, key, value)
        shop.installed = True
        shop.installed_at = utcnow()
        shop.uninstalled_at = None
    db.session.flush()
    return shop


def uninstall_shop(shop: Shop) -> None:
    """Stop all work for the shop; its data stays until ``shop/redact``."""
    shop.installed = False
    shop.uninstalled_at = utcnow()


def redact_shop(shop: Shop) -> None:
    """Delete every row held for the shop, children before parents, then the shop itself."""
    with shop_scope(shop.id):
        for table in reversed(db.metadata.sorted_tables):
            if "shop_id" in table.c:  # Core statements: the shop named with in_shop
                db.session.execute(delete(table).where(in_shop(table.c)))
    db.session.execute(delete(Shop).where(Shop.id == shop.id))
    db.session.expunge_all()
