"""unique names: discounts, price rules, bundles, gift rules, benefit programmes, automations

Contract §5: "A duplicate name is a 422." Groups, segments and audiences already keep
``name_key`` (``plugin.db.name_key``: trimmed, case-folded) under a unique constraint per
shop; these six resources now do too.

The keys are made in Python (``str.casefold`` is not SQL on either database), written in
batches. Rows whose names already clash keep the oldest (lowest id) as it is; each later
one gets " (2)", " (3)"... appended to its name, the first free suffix, so the unique
constraints can be created. The downgrade drops the keys; renamed rows keep their new names.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 14:16:05.377554

"""
from collections.abc import Iterable

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLES = ('discounts', 'price_rules', 'bundles', 'gift_rules', 'benefit_programmes', 'automations')
NAME_LENGTH = 255
CHUNK = 1_000


def name_key(name: str) -> str:
    """``plugin.db.name_key`` as of this revision (a migration stays what it was)."""
    # Cut to the column: folding can lengthen a name ("ß" -> "ss").
    return name.strip().casefold()[:NAME_LENGTH]


def _table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column('id', sa.Integer),
        sa.column('shop_id', sa.Integer),
        sa.column('name', sa.String),
        sa.column('name_key', sa.String),
    )


def _chunks(rows: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _free_name(name: str, taken: set[str]) -> str:
    """``name`` with the first " (n)" whose key no row of the shop holds."""
    number = 2
    while True:
        suffix = f' ({number})'
        candidate = name.strip()[:NAME_LENGTH - len(suffix)] + suffix
        if name_key(candidate) not in taken:
            return candidate
        number += 1


def _fill_keys(conn: sa.Connection, table: sa.TableClause) -> None:
    """Give every row its key, renaming the later rows of a clash."""
    rows = conn.execute(
        sa.select(table.c.id, table.c.shop_id, table.c.name).order_by(table.c.shop_id, table.c.id)
    ).all()
    # Every key any row holds now, per shop: a new name must not take a later row's key.
    taken: dict[int, set[str]] = {}
    for _, shop_id, name in rows:
        taken.setdefault(shop_id, set()).add(name_key(name))
    seen: dict[int, set[str]] = {}
    updates = []
    for row_id, shop_id, name in rows:
        key = name_key(name)
        if key in seen.setdefault(shop_id, set()):
            name = _free_name(name, taken[shop_id])
            key = name_key(name)
            taken[shop_id].add(key)
        seen[shop_id].add(key)
        updates.append({'row_id': row_id, 'new_name': name, 'new_key': key})
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam('row_id'))
        .values(name=sa.bindparam('new_name'), name_key=sa.bindparam('new_key'))
    )
    for chunk in _chunks(updates):
        conn.execute(statement, chunk)


def upgrade():
    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('name_key', sa.String(length=255), nullable=True))

    conn = op.get_bind()
    for name in TABLES:
        _fill_keys(conn, _table(name))

    for name in TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.alter_column('name_key', existing_type=sa.String(length=255), nullable=False)
            batch_op.create_unique_constraint(
                batch_op.f(f'uq_{name}_shop_id_name_key'), ['shop_id', 'name_key']
            )


def downgrade():
    for name in reversed(TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'uq_{name}_shop_id_name_key'), type_='unique')
            batch_op.drop_column('name_key')
