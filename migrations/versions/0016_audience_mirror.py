"""audiences mirror their source; credentials sealed (issue 15)

- ``audience_members``: what each audience's vendor holds (one row per customer sent and not
  yet removed), from which a run computes joiners and leavers. Audiences synced before this
  have no record: their first run adds everyone again (harmless: every add is an upsert)
  and can only remove leavers it recorded itself.
- ``audience_runs.removed``: leavers a run took out (contract §5, version 2).
- ``audiences.credentials`` (JSON in clear) becomes ``sealed_credentials``: one Fernet token
  under a key derived from the app secret (``plugin/audiences/credentials.py``; the same
  derivation is written out below so that this file never changes meaning). Existing
  credentials are sealed here, with the app secret the migration is run with
  (``customer-groups db upgrade`` reads ``CUSTOMER_GROUPS_APP_SECRET``); without one, and
  with credentials to seal, the migration stops and says so.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 06:30:00

"""
import base64
import json

from alembic import context, op
import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import plugin.db


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

KEY_LABEL = b"customer-groups/audience-credentials/v1"


def _fernet():
    secret = context.config.attributes.get("app_secret")
    if not secret:
        return None
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def _no_secret():
    raise RuntimeError(
        "Audience credentials are sealed with a key derived from CUSTOMER_GROUPS_APP_SECRET: "
        "set it and run the migration again."
    )


def upgrade():
    op.create_table(
        'audience_members',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('shop_id', sa.Integer(), nullable=False),
        sa.Column('audience_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('vendor_ref', sa.Text(), nullable=True),
        sa.Column('created_at', plugin.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['audience_id'], ['audiences.id'],
            name=op.f('fk_audience_members_audience_id_audiences'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['customer_id'], ['customers.id'],
            name=op.f('fk_audience_members_customer_id_customers'), ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['shop_id'], ['shops.id'],
            name=op.f('fk_audience_members_shop_id_shops'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audience_members')),
        sa.UniqueConstraint(
            'audience_id', 'customer_id',
            name=op.f('uq_audience_members_audience_id_customer_id'),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_audience_members_customer', 'audience_members', ['customer_id'])
    op.create_index(op.f('ix_audience_members_shop_id'), 'audience_members', ['shop_id'])

    with op.batch_alter_table(
        'audience_runs', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column('removed', sa.Integer(), server_default=sa.text('0'), nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_audience_runs_removed_not_negative'), 'removed >= 0'
        )

    with op.batch_alter_table(
        'audiences', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('sealed_credentials', sa.Text(), nullable=True))
    bind = op.get_bind()
    audiences = sa.table(
        'audiences', sa.column('id', sa.Integer()), sa.column('credentials', sa.JSON()),
        sa.column('sealed_credentials', sa.Text()),
    )
    rows = bind.execute(sa.select(audiences.c.id, audiences.c.credentials)).all()
    fernet = _fernet()
    for audience_id, credentials in rows:
        if isinstance(credentials, str):
            credentials = json.loads(credentials)
        token = ''
        if credentials:
            if fernet is None:
                _no_secret()
            token = fernet.encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()
        bind.execute(
            audiences.update()
            .where(audiences.c.id == audience_id)
            .values(sealed_credentials=token)
        )
    with op.batch_alter_table(
        'audiences', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.alter_column('sealed_credentials', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('credentials')


def downgrade():
    with op.batch_alter_table(
        'audiences', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.add_column(sa.Column('credentials', sa.JSON(), nullable=True))
    bind = op.get_bind()
    audiences = sa.table(
        'audiences', sa.column('id', sa.Integer()), sa.column('credentials', sa.JSON()),
        sa.column('sealed_credentials', sa.Text()),
    )
    rows = bind.execute(sa.select(audiences.c.id, audiences.c.sealed_credentials)).all()
    fernet = _fernet()
    for audience_id, token in rows:
        credentials = {}
        if token:
            if fernet is None:
                _no_secret()
            credentials = json.loads(fernet.decrypt(token.encode()))
        bind.execute(
            audiences.update().where(audiences.c.id == audience_id).values(credentials=credentials)
        )
    with op.batch_alter_table(
        'audiences', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.alter_column('credentials', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('sealed_credentials')
    with op.batch_alter_table(
        'audience_runs', schema=None, table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('ck_audience_runs_removed_not_negative'), type_='check'
        )
        batch_op.drop_column('removed')
    op.drop_index(op.f('ix_audience_members_shop_id'), table_name='audience_members')
    op.drop_index('ix_audience_members_customer', table_name='audience_members')
    op.drop_table('audience_members')
