"""customer_changes_lean_indexes: fewer index entries for each recorded change (issue 13,
goal 4)

A segment recompute records one ``customer_changes`` row per customer who joined or left:
667,479 rows for the bench's "Repeat" segment over 1M customers. Each row went into six
indexes; now a segment change goes into four, a group change into four or five:

- ``(customer_id, id)`` replaces ``(customer_id)`` and ``(shop_id, customer_id, id)``: it
  serves the customer page (a customer's changes, newest first; a customer's rows are all
  of its shop) and the cascade of a deleted customer. ``(shop_id)`` serves a deleted or
  redacted shop's.
- The references to groups and segments are indexed only where they are set: they are
  there for the SET NULL of a deleted group or segment, which looks for one value. A
  segment change writes nothing in the two group indexes, a group change nothing in the
  segment's.

The new indexes are built first, under new names, while the table can still be read (a
build blocks writes only); the old ones are dropped last, so the exclusive lock of a drop
is held only from there to the commit.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 05:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

TABLE = 'customer_changes'
REFERENCES = ('from_group_id', 'to_group_id', 'segment_id')
OLD = {
    'ix_customer_changes_customer_id': ['customer_id'],
    'ix_customer_changes_shop_customer': ['shop_id', 'customer_id', 'id'],
    **{f'ix_customer_changes_{column}': [column] for column in REFERENCES},
}
NEW = {
    'ix_customer_changes_customer': ['customer_id', 'id'],
    'ix_customer_changes_shop': ['shop_id'],
}


def upgrade():
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns, unique=False)
    for column in REFERENCES:
        where = sa.text(f'{column} IS NOT NULL')
        op.create_index(f'ix_customer_changes_set_{column}', TABLE, [column], unique=False,
                        sqlite_where=where, postgresql_where=where)
    for name in OLD:
        op.drop_index(name, table_name=TABLE)


def downgrade():
    for name, columns in OLD.items():
        op.create_index(name, TABLE, columns, unique=False)
    for column in REFERENCES:
        op.drop_index(f'ix_customer_changes_set_{column}', table_name=TABLE)
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
