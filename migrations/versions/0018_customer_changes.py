"""customer_changes: a customer's group and segment changes (issue 14, the customer page)

Nothing recorded when a customer moved: the outbox forgets its rows after a retention
period and holds none for a shop without an events_url. From now on every published
customer/group_changed and customer/segments_changed also writes one row per change
(plugin/intake/changes.py). Changes before this migration are not known.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 06:30:00

"""
from alembic import op
import sqlalchemy as sa

import plugin.db


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customer_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_group_id', sa.Integer(), nullable=True),
    sa.Column('to_group_id', sa.Integer(), nullable=True),
    sa.Column('segment_id', sa.Integer(), nullable=True),
    sa.Column('happened_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('group', 'joined_segment', 'left_segment')", name=op.f('ck_customer_changes_kind_known')),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_customer_changes_shop_id_shops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_changes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_group_id'], ['groups.id'], name=op.f('fk_customer_changes_from_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_group_id'], ['groups.id'], name=op.f('fk_customer_changes_to_group_id_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], name=op.f('fk_customer_changes_segment_id_segments'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_changes')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('customer_changes', schema=None) as batch_op:
        batch_op.create_index('ix_customer_changes_shop_customer', ['shop_id', 'customer_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_changes_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_changes_from_group_id'), ['from_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_changes_to_group_id'), ['to_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_changes_segment_id'), ['segment_id'], unique=False)


def downgrade():
    op.drop_table('customer_changes')
