"""shops.locale: how the admin writes money (issue 14, "money one way")

The host may send `shop.locale` in `app/installed` (a BCP 47 tag such as `fr-FR`); the
admin writes every amount with Babel in the shop's currency and that locale. Shops
installed before it, and hosts that send none, write money as `en` does.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table(
        'shops', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column('locale', sa.String(length=35), server_default='en', nullable=False)
        )


def downgrade():
    with op.batch_alter_table(
        'shops', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_column('locale')
