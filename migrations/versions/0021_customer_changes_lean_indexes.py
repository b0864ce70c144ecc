"""customer_changes_lean_indexes: fewer index entries for each recorded change (issue 13,
goal 4)

A segment recompute records one ``customer_changes`` row per customer who joined or left:
667,479 rows for the bench's "Repeat" segment over 1M customers. Each row went into six
indexes. Now:

- ``(customer_id, id)`` replaces ``(customer_id)`` and ``(shop_id, customer_id, id)``: it
  serves the customer page (a customer's changes, newest first; a customer's rows are all
  of its shop) and the cascade of a deleted customer.
- The references to groups and segments are indexed only where they are set: they are
  there for the SET NULL of a deleted group or segment, which looks for one value. A
  segment change writes nothing in the two group indexes, a group change nothing in the
  segment's.

Inserting those 667,479 rows took 8.2 s before (23.6 s with the foreign-key checks, which
stay) and 3.3 s after (16.9 s), EXPLAIN ANALYZE on ``bench/segments.py``'s data.

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

REFERENCES = ('from_group_id', 'to_group_id', 'segment_id')


def upgrade():
    op.create_index('ix_customer_changes_customer', 'customer_changes', ['customer_id', 'id'],
                    unique=False)
    op.drop_index('ix_customer_changes_customer_id', table_name='customer_changes')
    op.drop_index('ix_customer_changes_shop_customer', table_name='customer_changes')
    for column in REFERENCES:
        name = f'ix_customer_changes_{column}'
        where = sa.text(f'{column} IS NOT NULL')
        op.drop_index(name, table_name='customer_changes')
        op.create_index(name, 'customer_changes', [column], unique=False,
                        sqlite_where=where, postgresql_where=where)


def downgrade():
    for column in REFERENCES:
        name = f'ix_customer_changes_{column}'
        op.drop_index(name, table_name='customer_changes')
        op.create_index(name, 'customer_changes', [column], unique=False)
    op.create_index('ix_customer_changes_shop_customer', 'customer_changes',
                    ['shop_id', 'customer_id', 'id'], unique=False)
    op.create_index('ix_customer_changes_customer_id', 'customer_changes', ['customer_id'],
                    unique=False)
    op.drop_index('ix_customer_changes_customer', table_name='customer_changes')
