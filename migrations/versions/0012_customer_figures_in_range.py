"""customers, order_lines: integers up to 2^53 - 1, and a customer type that may be unknown

Contract v2 §2 lets integers (points, counts, quantities) reach 2^53 - 1:
`customers.points`, `customers.order_count` and `order_lines.quantity` were 32-bit on
PostgreSQL, so a host's points of 2^31, an order line of 3 billion units, or a segment
condition comparing the order count with 2^31 was a 500. They are BIGINT now. A
customer snapshot whose `type` is neither `individual` nor `business` keeps the customer
with the type unknown (NULL) instead of refusing the event (README, "Customer fields").

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.alter_column(
            'points', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False,
        )
        batch_op.alter_column(
            'order_count', existing_type=sa.Integer(), type_=sa.BigInteger(),
            existing_nullable=False,
        )
        batch_op.alter_column('type', existing_type=sa.String(length=16), nullable=True)
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.alter_column(
            'quantity', existing_type=sa.Integer(), type_=sa.BigInteger(),
            existing_nullable=False,
        )


def downgrade():
    # Values past the 32-bit range cannot go back: they are held at its bound.
    for column in ('points', 'order_count'):
        op.execute(
            sa.text(f"UPDATE customers SET {column} = 2147483647 WHERE {column} > 2147483647")
        )
    op.execute(sa.text("UPDATE customers SET type = 'individual' WHERE type IS NULL"))
    op.execute(
        sa.text("UPDATE order_lines SET quantity = 2147483647 WHERE quantity > 2147483647")
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.alter_column(
            'quantity', existing_type=sa.BigInteger(), type_=sa.Integer(),
            existing_nullable=False,
        )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.alter_column('type', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column(
            'order_count', existing_type=sa.BigInteger(), type_=sa.Integer(),
            existing_nullable=False,
        )
        batch_op.alter_column(
            'points', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False,
        )
