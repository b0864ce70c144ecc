"""contract v2: drop sent_signatures (events are signed with each shop's own events key)

Version 1 of the contract signed requests both ways with the one app secret, so the
outbox remembered every signature it made and /webhooks refused them. Version 2 signs
events with a key derived per shop and requests from the host with another: nothing the
extension sends can verify at /webhooks, and the replay memory has no use.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:40:00

"""
from alembic import op
import sqlalchemy as sa
import plugin.db  # noqa: F401  (column types used below)


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sent_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_signatures_shop_id'))
        batch_op.drop_index('ix_sent_signatures_sent_at')
    op.drop_table('sent_signatures')


def downgrade():
    op.create_table(
        'sent_signatures',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('sent_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['shop_id'], ['shops.id'], name=op.f('fk_sent_signatures_shop_id_shops'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_sent_signatures')),
    )
    with op.batch_alter_table('sent_signatures', schema=None) as batch_op:
        batch_op.create_index('ix_sent_signatures_sent_at', ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sent_signatures_shop_id'), ['shop_id'], unique=False)
