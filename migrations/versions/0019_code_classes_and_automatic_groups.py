"""code_classes_and_automatic_groups: codes in classes, uses per customer, automatic groups
(contract §8, issue 16 items 3-5)

- ``discounts.combinable_with_other_codes`` (false) and ``discounts.uses_per_customer``
  (null, or at least 1; once-per-customer discounts get 1, their alias).
- ``redemptions``: one per order and discount (an order carries an order code and a
  shipping code), and ``customer_use``, the number of the customer's use, under the
  partial unique index ``uq_redemptions_customer_use`` over counting, unflagged rows.
  Counting uses of once-per-customer discounts become use 1.
- ``groups.auto_segment_id`` (a segment of the same shop) and ``groups.auto_priority``;
  ``customers.group_locked``: customers placed by hand before automatic groups existed
  (every customer outside the default group: moving by hand was the only way there)
  count as locked.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 07:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

CUSTOMER_USE_ROWS = (
    "customer_use IS NOT NULL AND customer_id IS NOT NULL AND status IN ('held', 'confirmed') "
    "AND NOT flagged"
)


def _batch(table):
    return op.batch_alter_table(table, schema=None, table_kwargs={'sqlite_autoincrement': True})


def upgrade():
    with _batch('discounts') as batch_op:
        batch_op.add_column(sa.Column('uses_per_customer', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column(
            'combinable_with_other_codes', sa.Boolean(), server_default=sa.false(), nullable=False
        ))
        batch_op.create_check_constraint(
            op.f('ck_discounts_uses_per_customer_positive'),
            'uses_per_customer IS NULL OR uses_per_customer >= 1',
        )
    op.execute("UPDATE discounts SET uses_per_customer = 1 WHERE once_per_customer")

    with _batch('redemptions') as batch_op:
        batch_op.add_column(sa.Column('customer_use', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_redemptions_shop_id_order_external_id', type_='unique')
        batch_op.create_unique_constraint(
            op.f('uq_redemptions_shop_id_order_external_id_discount_id'),
            ['shop_id', 'order_external_id', 'discount_id'],
        )
        batch_op.create_check_constraint(
            op.f('ck_redemptions_customer_use_positive'),
            'customer_use IS NULL OR customer_use >= 1',
        )
    op.execute(
        "UPDATE redemptions SET customer_use = 1 WHERE once_per_customer "
        "AND customer_id IS NOT NULL AND status IN ('held', 'confirmed') AND NOT flagged"
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index(
            'uq_redemptions_customer_use', ['discount_id', 'customer_id', 'customer_use'],
            unique=True,
            sqlite_where=sa.text(CUSTOMER_USE_ROWS),
            postgresql_where=sa.text(CUSTOMER_USE_ROWS),
        )

    with _batch('groups') as batch_op:
        batch_op.add_column(sa.Column('auto_segment_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('auto_priority', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_index(batch_op.f('ix_groups_auto_segment_id'), ['auto_segment_id'])
        batch_op.create_foreign_key(
            'fk_groups_auto_segment_id_segments', 'segments',
            ['shop_id', 'auto_segment_id'], ['shop_id', 'id'],
        )

    with _batch('customers') as batch_op:
        batch_op.add_column(
            sa.Column('group_locked', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        "UPDATE customers SET group_locked = true WHERE group_id NOT IN "
        "(SELECT id FROM groups WHERE is_default)"
    )


def downgrade():
    with _batch('customers') as batch_op:
        batch_op.drop_column('group_locked')
    with _batch('groups') as batch_op:
        batch_op.drop_constraint('fk_groups_auto_segment_id_segments', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_groups_auto_segment_id'))
        batch_op.drop_column('auto_priority')
        batch_op.drop_column('auto_segment_id')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('uq_redemptions_customer_use')
    with _batch('redemptions') as batch_op:
        batch_op.drop_constraint(op.f('ck_redemptions_customer_use_positive'), type_='check')
        batch_op.drop_constraint(
            op.f('uq_redemptions_shop_id_order_external_id_discount_id'), type_='unique'
        )
        batch_op.create_unique_constraint(
            op.f('uq_redemptions_shop_id_order_external_id'), ['shop_id', 'order_external_id']
        )
        batch_op.drop_column('customer_use')
    with _batch('discounts') as batch_op:
        batch_op.drop_constraint(op.f('ck_discounts_uses_per_customer_positive'), type_='check')
        batch_op.drop_column('combinable_with_other_codes')
        batch_op.drop_column('uses_per_customer')
