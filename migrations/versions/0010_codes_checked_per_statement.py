"""codes: a code's discount checked once per statement on PostgreSQL; keys compared as bytes

On PostgreSQL the two foreign keys of ``codes`` (to ``discounts``, to ``customers``)
are replaced by the triggers of ``plugin.codes.integrity``, which give the same
guarantees (checked, locked ``FOR KEY SHARE``, cascaded or set null on delete) with
one check per statement instead of one per row, and ``codes.code_key`` is compared with
``COLLATE "C"``. On both databases ``shared``, ``status``, ``times_used`` and
``created_at`` get server defaults, so bulk writes send only four columns. Together
they make a million-code insert about 40 % cheaper. SQLite keeps its foreign key.

The triggers' SQL is imported, not copied: the functions are ``CREATE OR REPLACE``,
and a later change to them comes with its own revision that creates them again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 16:20:00

"""
from alembic import op
import sqlalchemy as sa

import plugin.db
from plugin.codes.integrity import (
    CUSTOMER_KEY, DISCOUNT_KEY, create_statements, drop_statements,
)


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


DEFAULTS = (
    ('shared', sa.Boolean(), sa.false()),
    ('status', sa.String(length=16), 'unassigned'),
    ('times_used', sa.Integer(), '0'),
    ('created_at', plugin.db.UtcDateTime(), sa.func.now()),
)


def upgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        for column, type_, default in DEFAULTS:
            batch_op.alter_column(column, existing_type=type_, server_default=default)
    if not _postgresql():
        return
    op.drop_constraint(DISCOUNT_KEY, 'codes', type_='foreignkey')
    op.drop_constraint(CUSTOMER_KEY, 'codes', type_='foreignkey')
    for statement in create_statements():
        op.execute(statement)
    op.alter_column(
        'codes', 'code_key',
        existing_type=sa.String(length=64), type_=sa.String(length=64, collation='C'),
        existing_nullable=False,
    )


def downgrade():
    with op.batch_alter_table('codes', schema=None) as batch_op:
        for column, type_, _ in DEFAULTS:
            batch_op.alter_column(column, existing_type=type_, server_default=None)
    if not _postgresql():
        return
    op.alter_column(
        'codes', 'code_key',
        existing_type=sa.String(length=64, collation='C'), type_=sa.String(length=64),
        existing_nullable=False,
    )
    for statement in drop_statements():
        op.execute(statement)
    op.create_foreign_key(
        DISCOUNT_KEY, 'codes', 'discounts', ['shop_id', 'discount_id'], ['shop_id', 'id'],
        ondelete='CASCADE',
    )
    op.create_foreign_key(
        CUSTOMER_KEY, 'codes', 'customers', ['assigned_customer_id'], ['id'],
        ondelete='SET NULL',
    )
