"""codes: the once-per-customer index counts only discounts that are once per customer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OLD = "customer_id IS NOT NULL AND status IN ('held', 'confirmed') AND NOT flagged"
NEW = (
    "once_per_customer AND customer_id IS NOT NULL AND status IN ('held', 'confirmed') "
    "AND NOT flagged"
)


def _index(where):
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('uq_redemptions_once_per_customer')
        batch_op.create_index(
            'uq_redemptions_once_per_customer',
            ['discount_id', 'customer_id'],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def upgrade():
    _index(NEW)


def downgrade():
    _index(OLD)
