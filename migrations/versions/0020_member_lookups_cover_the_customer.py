"""member_lookups_cover_the_customer: the customers holding a tag or having bought a product,
read from the index alone (issue 13, goal 3)

A segment condition on a tag or on bought products is a semi-join on
``customer_tags (shop_id, tag_key)`` or ``customer_products (shop_id, product_id)``: with
``customer_id`` in the index as well, PostgreSQL reads those customers from the index
(an index-only scan) instead of visiting a row of the table for each. The bench's preview
count over 1M customers (``bench/segments.py``, a tag and three products among its five
conditions) went from 380-420 ms to 155-160 ms. Same names, one more column each: the
indexes they replace are their prefixes, so nothing that used them loses anything.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 02:40:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

INDEXES = (
    ('customer_tags', 'ix_customer_tags_shop_tag', ['shop_id', 'tag_key']),
    ('customer_products', 'ix_customer_products_shop_product', ['shop_id', 'product_id']),
)


def upgrade():
    for table, name, columns in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [*columns, 'customer_id'], unique=False)


def downgrade():
    for table, name, columns in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, unique=False)
