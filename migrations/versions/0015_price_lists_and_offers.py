"""price lists, offers, windows on bundles, gift rules and programmes (contract v2 §8)

- ``price_lists`` (audience ``all``/``guests``/``groups``/``segments``/``customers``,
  priority, window) with their audience links ``price_list_groups``,
  ``price_list_segments`` and ``price_list_customers`` (the host's customer ids, a foreign
  key to ``customers (shop_id, external_id)``, ON DELETE CASCADE);
- ``price_list_entries``: one price per (list, product, min_quantity), the primary key,
  which is also the index the checkout reads a cart's products by; no surrogate id, so an
  import of 1,000,000 entries writes one index;
- ``offers`` (buy X get Y) with ``offer_groups`` / ``offer_segments``;
- ``starts_at`` / ``ends_at`` on ``bundles``, ``gift_rules`` and ``benefit_programmes``,
  with the same ``window_order`` CHECK as price rules (SQLite rebuilds those tables with
  AUTOINCREMENT kept).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 06:40:00

"""
from alembic import op
import sqlalchemy as sa
import plugin.db  # noqa: F401  (column types used below)


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

AUTOINCREMENT = {'sqlite_autoincrement': True}


def upgrade():
    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('audience_type', sa.String(length=16), nullable=False),
    sa.Column('buy_type', sa.String(length=16), nullable=False),
    sa.Column('buy_ids', sa.JSON(), nullable=False),
    sa.Column('buy_quantity', sa.Integer(), nullable=False),
    sa.Column('get_type', sa.String(length=16), nullable=False),
    sa.Column('get_ids', sa.JSON(), nullable=False),
    sa.Column('get_quantity', sa.Integer(), nullable=False),
    sa.Column('discount_type', sa.String(length=16), nullable=False),
    sa.Column('discount_value', sa.Integer(), nullable=True),
    sa.Column('max_applications', sa.Integer(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('starts_at', plugin.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', plugin.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience_type IN ('all', 'guests', 'groups', 'segments')", name=op.f('ck_offers_audience_type_known')),
    sa.CheckConstraint("buy_type IN ('products', 'categories')", name=op.f('ck_offers_buy_type_known')),
    sa.CheckConstraint("discount_type <> 'percent' OR (discount_value > 0 AND discount_value <= 10000)", name=op.f('ck_offers_discount_percent_range')),
    sa.CheckConstraint("discount_type IN ('percent', 'free')", name=op.f('ck_offers_discount_type_known')),
    sa.CheckConstraint("get_type IN ('products', 'categories')", name=op.f('ck_offers_get_type_known')),
    sa.CheckConstraint('buy_quantity >= 1', name=op.f('ck_offers_buy_quantity_positive')),
    sa.CheckConstraint('get_quantity >= 1', name=op.f('ck_offers_get_quantity_positive')),
    sa.CheckConstraint('max_applications IS NULL OR max_applications >= 1', name=op.f('ck_offers_max_applications_positive')),
    sa.CheckConstraint('starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_offers_window_order')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_offers_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers')),
    sa.UniqueConstraint('shop_id', 'id', name=op.f('uq_offers_shop_id_id')),
    sa.UniqueConstraint('shop_id', 'name_key', name=op.f('uq_offers_shop_id_name_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_shop_active', ['shop_id', 'active'], unique=False)

    op.create_table('price_lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('audience_type', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('starts_at', plugin.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', plugin.db.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("audience_type IN ('all', 'guests', 'groups', 'segments', 'customers')", name=op.f('ck_price_lists_audience_type_known')),
    sa.CheckConstraint('starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at', name=op.f('ck_price_lists_window_order')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_price_lists_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_lists')),
    sa.UniqueConstraint('shop_id', 'id', name=op.f('uq_price_lists_shop_id_id')),
    sa.UniqueConstraint('shop_id', 'name_key', name=op.f('uq_price_lists_shop_id_name_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('price_lists', schema=None) as batch_op:
        batch_op.create_index('ix_price_lists_shop_active', ['shop_id', 'active'], unique=False)

    op.create_table('offer_groups',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id', 'group_id'], ['groups.shop_id', 'groups.id'], name=op.f('fk_offer_groups_shop_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id', 'offer_id'], ['offers.shop_id', 'offers.id'], name=op.f('fk_offer_groups_shop_id_offers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'group_id', name=op.f('pk_offer_groups'))
    )
    with op.batch_alter_table('offer_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_groups_group_id'), ['group_id'], unique=False)

    op.create_table('offer_segments',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id', 'offer_id'], ['offers.shop_id', 'offers.id'], name=op.f('fk_offer_segments_shop_id_offers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id', 'segment_id'], ['segments.shop_id', 'segments.id'], name=op.f('fk_offer_segments_shop_id_segments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'segment_id', name=op.f('pk_offer_segments'))
    )
    with op.batch_alter_table('offer_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offer_segments_segment_id'), ['segment_id'], unique=False)

    op.create_table('price_list_entries',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=255), nullable=False),
    sa.Column('min_quantity', sa.BigInteger(), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('min_quantity >= 1', name=op.f('ck_price_list_entries_min_quantity_positive')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_price_list_entries_price_not_negative')),
    sa.ForeignKeyConstraint(['shop_id', 'price_list_id'], ['price_lists.shop_id', 'price_lists.id'], name=op.f('fk_price_list_entries_shop_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_list_id', 'product_id', 'min_quantity', name=op.f('pk_price_list_entries'))
    )
    op.create_table('price_list_groups',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id', 'group_id'], ['groups.shop_id', 'groups.id'], name=op.f('fk_price_list_groups_shop_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id', 'price_list_id'], ['price_lists.shop_id', 'price_lists.id'], name=op.f('fk_price_list_groups_shop_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_list_id', 'group_id', name=op.f('pk_price_list_groups'))
    )
    with op.batch_alter_table('price_list_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_list_groups_group_id'), ['group_id'], unique=False)

    op.create_table('price_list_segments',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('segment_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id', 'price_list_id'], ['price_lists.shop_id', 'price_lists.id'], name=op.f('fk_price_list_segments_shop_id_price_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id', 'segment_id'], ['segments.shop_id', 'segments.id'], name=op.f('fk_price_list_segments_shop_id_segments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_list_id', 'segment_id', name=op.f('pk_price_list_segments'))
    )
    with op.batch_alter_table('price_list_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_price_list_segments_segment_id'), ['segment_id'], unique=False)

    op.create_table('price_list_customers',
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('price_list_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['shop_id', 'customer_id'], ['customers.shop_id', 'customers.external_id'], name=op.f('fk_price_list_customers_shop_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['shop_id', 'price_list_id'], ['price_lists.shop_id', 'price_lists.id'], name=op.f('fk_price_list_customers_shop_id_price_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('price_list_id', 'customer_id', name=op.f('pk_price_list_customers'))
    )
    with op.batch_alter_table('price_list_customers', schema=None) as batch_op:
        batch_op.create_index('ix_price_list_customers_customer', ['shop_id', 'customer_id'], unique=False)

    with op.batch_alter_table('benefit_programmes', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('starts_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ends_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            'window_order', 'starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at'
        )

    with op.batch_alter_table('bundles', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('starts_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ends_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            'window_order', 'starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at'
        )

    with op.batch_alter_table('gift_rules', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column('starts_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ends_at', plugin.db.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            'window_order', 'starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at'
        )


def downgrade():
    with op.batch_alter_table('gift_rules', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint('window_order', type_='check')
        batch_op.drop_column('ends_at')
        batch_op.drop_column('starts_at')

    with op.batch_alter_table('bundles', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint('window_order', type_='check')
        batch_op.drop_column('ends_at')
        batch_op.drop_column('starts_at')

    with op.batch_alter_table('benefit_programmes', schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint('window_order', type_='check')
        batch_op.drop_column('ends_at')
        batch_op.drop_column('starts_at')

    with op.batch_alter_table('price_list_customers', schema=None) as batch_op:
        batch_op.drop_index('ix_price_list_customers_customer')

    op.drop_table('price_list_customers')
    with op.batch_alter_table('price_list_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_list_segments_segment_id'))

    op.drop_table('price_list_segments')
    with op.batch_alter_table('price_list_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_price_list_groups_group_id'))

    op.drop_table('price_list_groups')
    op.drop_table('price_list_entries')
    with op.batch_alter_table('offer_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_segments_segment_id'))

    op.drop_table('offer_segments')
    with op.batch_alter_table('offer_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_groups_group_id'))

    op.drop_table('offer_groups')
    with op.batch_alter_table('price_lists', schema=None) as batch_op:
        batch_op.drop_index('ix_price_lists_shop_active')

    op.drop_table('price_lists')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_shop_active')

    op.drop_table('offers')
