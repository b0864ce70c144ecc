"""plugin.shops.operations.per_version: what the ingest path keeps of a shop's settings,
per version of them (shops.rules_version), and never what a transaction that bumped the
version itself read."""

from __future__ import annotations

from sqlalchemy import select

from plugin.db import db, enter_shop
from plugin.shops.models import Shop
from plugin.shops.operations import bump_rules_version, per_version


def test_kept_per_version_and_never_from_a_transaction_that_bumped_it(app, shop):
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    with app.app_context():
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        enter_shop(row.id)
        assert per_version(row, "x", load) == 1
        assert per_version(row, "x", load) == 1  # kept
        assert per_version(row, "y", load) == 2  # another name, its own entry
        bump_rules_version(row)
        # This transaction bumped it: what it reads is its own, not yet committed.
        assert per_version(row, "x", load) == 3
        assert per_version(row, "x", load) == 4
        db.session.rollback()
        # Rolled back: the old version, and what was kept for it, stand.
        assert per_version(row, "x", load) == 1
        bump_rules_version(row)
        db.session.commit()
    with app.app_context():  # the next request reads the new version, and keeps it
        row = db.session.execute(select(Shop).where(Shop.domain == shop)).scalar_one()
        enter_shop(row.id)
        assert per_version(row, "x", load) == 5
        assert per_version(row, "x", load) == 5
