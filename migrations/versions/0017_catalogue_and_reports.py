"""the catalogue (products, categories) and what the reports read (contract v2 §8)

``products`` and ``categories`` hold what the ``product/*`` and ``category/*`` webhooks
tell, by the host's ids (unique per shop), with the search keys of their titles and ids;
``product_categories`` holds a product's categories in order, by the host's category ids
(no foreign key to ``categories``: a product may name a category the catalogue does not
know yet).

The reports: ``redemptions.amount`` is what the code took off the order as the redeem hook
priced it (0 for redemptions recorded before, as for orders the hook never saw);
``orders.group_id`` is the group the customer was in when the order was paid (filled here
from the customer's group today, the best that is known of older orders), ON DELETE SET
NULL; ``ix_orders_shop_placed`` lets a report read a shop's orders by day.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 06:45:00

"""
from alembic import op
import sqlalchemy as sa
import plugin.db  # noqa: F401  (column types used below)


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('title_key', sa.String(length=1024), nullable=False),
    sa.Column('id_key', sa.String(length=1024), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('product', 'service')", name=op.f('ck_products_kind_known')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_products_price_not_negative')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_products_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('shop_id', 'external_id', name=op.f('uq_products_shop_id_external_id')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_products_shop_title_key', 'products', ['shop_id', 'title_key'], unique=False)
    op.create_table('product_categories',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.String(length=255), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_categories_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_product_categories_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'category_id', name=op.f('pk_product_categories')),
    )
    op.create_index('ix_product_categories_shop_category', 'product_categories', ['shop_id', 'category_id'], unique=False)
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('title_key', sa.String(length=1024), nullable=False),
    sa.Column('id_key', sa.String(length=1024), nullable=False),
    sa.Column('parent_id', sa.String(length=255), nullable=True),
    sa.Column('updated_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_categories_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('shop_id', 'external_id', name=op.f('uq_categories_shop_id_external_id')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_categories_shop_title_key', 'categories', ['shop_id', 'title_key'], unique=False)


    with op.batch_alter_table(
        'redemptions', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_check_constraint(op.f('ck_redemptions_amount_not_negative'), 'amount >= 0')
    with op.batch_alter_table(
        'orders', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f('fk_orders_group_id_groups'), 'groups', ['group_id'], ['id'], ondelete='SET NULL'
        )
        batch_op.create_index('ix_orders_shop_placed', ['shop_id', 'placed_at'], unique=False)
    op.execute(
        "UPDATE orders SET group_id = (SELECT customers.group_id FROM customers"
        " WHERE customers.id = orders.customer_id) WHERE customer_id IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table(
        'orders', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_index('ix_orders_shop_placed')
        batch_op.drop_constraint(op.f('fk_orders_group_id_groups'), type_='foreignkey')
        batch_op.drop_column('group_id')
    with op.batch_alter_table(
        'redemptions', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_constraint(op.f('ck_redemptions_amount_not_negative'), type_='check')
        batch_op.drop_column('amount')
    op.drop_index('ix_categories_shop_title_key', table_name='categories')
    op.drop_table('categories')
    op.drop_index('ix_product_categories_shop_category', table_name='product_categories')
    op.drop_table('product_categories')
    op.drop_index('ix_products_shop_title_key', table_name='products')
    op.drop_table('products')
