"""segments: compare tags, cities and countries by a key made in Python (issue #3)

Segment conditions on ``city`` and ``country`` compared ``lower(column)`` in SQL with
Python's ``str.lower`` in the incremental path: SQLite's ``lower()`` folds ASCII only
(PostgreSQL's depends on the database's locale), so a customer in "ÉVRY" left and
joined ``city is "évry"`` on every recompute and update. Tags were keyed with
``casefold()`` but conditions with ``lower()``, so ``customer_tag has "Straße"``
matched no one.

Now one function, ``plugin.segments.keys.text_key`` (NFKC, case-folded, trimmed, at most
255 characters), makes every key: ``customers.city_key`` and ``customers.country_key``
(new, indexed per shop like the other columns conditions read) and
``customer_tags.tag_key`` (re-keyed here; tags that now share a key are merged, as a
webhook would merge them). The backfill folds each distinct text once in Python and
then updates set-based through a temporary table, on SQLite and PostgreSQL alike.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:42:43.913475

"""
import unicodedata
from collections.abc import Callable, Iterable

from alembic import op
import sqlalchemy as sa
import plugin.db  # noqa: F401  (column types used below)


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

KEY_LENGTH = 255
CHUNK = 5_000

customers = sa.table(
    'customers',
    sa.column('id', sa.Integer),
    sa.column('city', sa.String),
    sa.column('country', sa.String),
    sa.column('city_key', sa.String),
    sa.column('country_key', sa.String),
)
customer_tags = sa.table(
    'customer_tags',
    sa.column('customer_id', sa.Integer),
    sa.column('tag_key', sa.String),
    sa.column('shop_id', sa.Integer),
    sa.column('tag', sa.String),
)


def text_key(value: str) -> str:
    """``plugin.segments.keys.text_key`` as of this revision (a migration stays what it was)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return folded.strip()[:KEY_LENGTH].rstrip()


def casefold_key(value: str) -> str:
    """How tags were keyed before this revision."""
    return value.strip().casefold()


def _chunks(rows: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _key_table(conn: sa.Connection, values: Iterable[str], key: Callable[[str], str]) -> sa.Table:
    """A temporary table of ``(value, value_key)``, one row per distinct text."""
    table = sa.Table(
        'segment_text_keys',
        sa.MetaData(),
        sa.Column('value', sa.Text, primary_key=True),
        sa.Column('value_key', sa.Text, nullable=False),
        prefixes=['TEMPORARY'],
    )
    table.create(conn)
    rows = [{'value': value, 'value_key': key(value)} for value in values]
    for chunk in _chunks(rows):
        conn.execute(table.insert(), chunk)
    return table


def _fill_customer_keys(conn: sa.Connection) -> None:
    """Both keys of every customer in one UPDATE (each row is written once)."""
    texts = set()
    for column in (customers.c.city, customers.c.country):
        texts.update(conn.execute(sa.select(column).where(column.is_not(None)).distinct()).scalars())
    keys = _key_table(conn, sorted(texts), text_key)

    def key_of(column: sa.ColumnElement) -> sa.ScalarSelect:
        return sa.select(keys.c.value_key).where(keys.c.value == column).scalar_subquery()

    conn.execute(
        customers.update()
        .where(sa.or_(customers.c.city.is_not(None), customers.c.country.is_not(None)))
        .values(city_key=key_of(customers.c.city), country_key=key_of(customers.c.country))
    )
    keys.drop(conn)


def _rekey_tags(conn: sa.Connection, key: Callable[[str], str]) -> None:
    """Give every tag the key ``key`` makes of its text; tags of one customer that now
    share a key become one (the tag already holding the key stays, else the first by old
    key). Only the rows whose key changes are read, once."""
    tags = conn.execute(sa.select(customer_tags.c.tag).distinct()).scalars()
    keys = _key_table(conn, list(tags), key)
    changed = conn.execute(
        sa.select(
            customer_tags.c.customer_id,
            customer_tags.c.tag_key,
            customer_tags.c.shop_id,
            customer_tags.c.tag,
            keys.c.value_key,
        )
        .join(keys, keys.c.value == customer_tags.c.tag)
        .where(customer_tags.c.tag_key != keys.c.value_key)
        .order_by(customer_tags.c.customer_id, customer_tags.c.tag_key)
    ).all()
    keys.drop(conn)
    # Every old key goes first, so that a new key may take the place of an old one.
    for chunk in _chunks(changed):
        conn.execute(
            customer_tags.delete().where(
                customer_tags.c.customer_id == sa.bindparam('c'),
                customer_tags.c.tag_key == sa.bindparam('old'),
            ),
            [{'c': customer_id, 'old': old} for customer_id, old, _, _, _ in chunk],
        )
    # INSERT ... SELECT ... WHERE NOT EXISTS: the same SQL on SQLite and PostgreSQL.
    absent = ~sa.exists().where(
        customer_tags.c.customer_id == sa.bindparam('c'),
        customer_tags.c.tag_key == sa.bindparam('new'),
    )
    add = customer_tags.insert().from_select(
        ['customer_id', 'tag_key', 'shop_id', 'tag'],
        sa.select(
            sa.bindparam('c', type_=sa.Integer),
            sa.bindparam('new', type_=sa.String),
            sa.bindparam('shop', type_=sa.Integer),
            sa.bindparam('tag', type_=sa.String),
        ).where(absent),
    )
    for chunk in _chunks(changed):
        conn.execute(
            add,
            [
                {'c': customer_id, 'new': new, 'shop': shop_id, 'tag': tag}
                for customer_id, _, shop_id, tag, new in chunk
            ],
        )


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('city_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('country_key', sa.String(length=255), nullable=True))

    conn = op.get_bind()
    _fill_customer_keys(conn)
    _rekey_tags(conn, text_key)

    # Indexes after the backfill: built once instead of kept through every update.
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_shop_city_key', ['shop_id', 'city_key'], unique=False)
        batch_op.create_index('ix_customers_shop_country_key', ['shop_id', 'country_key'], unique=False)


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_shop_country_key')
        batch_op.drop_index('ix_customers_shop_city_key')
        batch_op.drop_column('country_key')
        batch_op.drop_column('city_key')

    _rekey_tags(op.get_bind(), casefold_key)
