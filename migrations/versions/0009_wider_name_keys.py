"""groups, segments, audiences: name keys as wide as any folded name can get

Folding can lengthen a name ("ß" becomes "ss"), so a 64-character group name could make a
key longer than its String(64) column: PostgreSQL refused it with a 500. The keys are
cut to 255 characters (``plugin.db.name_key``) and these columns now hold that many.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 14:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES = ('groups', 'segments', 'audiences')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'name_key', existing_type=sa.String(length=64), type_=sa.String(length=255),
                existing_nullable=False,
            )


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                'name_key', existing_type=sa.String(length=255), type_=sa.String(length=64),
                existing_nullable=False,
            )
