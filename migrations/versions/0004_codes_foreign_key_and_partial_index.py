"""codes: one foreign key to (discount, shop), a partial assigned-customer index

A code now refers to its discount together with the discount's shop, through one
composite foreign key instead of one to ``shops`` and one to ``discounts``: the
database also guarantees that a code and its discount belong to the same shop, and
a bulk insert pays for one foreign-key check per row instead of two. The index on
``codes.assigned_customer_id`` only holds assigned codes (pool codes are inserted by
the million and most are never assigned).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:13:39.411582

"""
from alembic import op
import sqlalchemy as sa
import plugin.db  # noqa: F401  (column types used below)


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ASSIGNED = sa.text("assigned_customer_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table('discounts', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_discounts_shop_id_id'), ['shop_id', 'id'])

    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_codes_shop_id_shops'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_codes_discount_id_discounts'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_codes_shop_id_discounts'), 'discounts', ['shop_id', 'discount_id'], ['shop_id', 'id'], ondelete='CASCADE')
        batch_op.drop_index(batch_op.f('ix_codes_assigned_customer_id'))
        batch_op.create_index(
            batch_op.f('ix_codes_assigned_customer_id'),
            ['assigned_customer_id'],
            unique=False,
            postgresql_where=ASSIGNED,
            sqlite_where=ASSIGNED,
        )


def downgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_codes_assigned_customer_id'))
        batch_op.create_index(batch_op.f('ix_codes_assigned_customer_id'), ['assigned_customer_id'], unique=False)
        batch_op.drop_constraint(batch_op.f('fk_codes_shop_id_discounts'), type_='foreignkey')
        batch_op.create_foreign_key(batch_op.f('fk_codes_discount_id_discounts'), 'discounts', ['discount_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_codes_shop_id_shops'), 'shops', ['shop_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('discounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_discounts_shop_id_id'), type_='unique')
