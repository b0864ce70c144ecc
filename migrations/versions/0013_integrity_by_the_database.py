"""integrity by the database: audiences as rows with foreign keys, codes' foreign keys back,
ids never reused on SQLite

- The audiences of price rules, bundles, gift rules, benefit programmes and discounts were
  id lists in JSON (``audience_ids``): deleting a group left its id there, and on SQLite the
  next group could get that id back, and with it the rules. They become rows of link
  tables (``price_rule_groups(shop_id, price_rule_id, group_id)``, ``..._segments``, and the
  same for ``bundle``, ``gift_rule``, ``programme`` and ``discount``) with two foreign keys,
  both including the shop and both ON DELETE CASCADE; the rows and groups/segments they
  join get a unique key on ``(shop_id, id)`` for them. Ids of groups or segments that no
  longer exist (or belong to another shop) are dropped: such an audience keeps its type
  and matches nobody.
- An audience's source (``audiences.source_id``, a group or a segment, no foreign key)
  becomes ``source_group_id`` / ``source_segment_id``, foreign keys ON DELETE SET NULL.
- ``codes`` gets its two foreign keys back on PostgreSQL, replacing the per-statement
  triggers of 0010: ``(shop_id, discount_id) → discounts`` ON DELETE CASCADE and
  ``assigned_customer_id → customers`` ON DELETE SET NULL. Codes whose discount is gone are
  deleted and assignments to customers who are gone cleared first, as the foreign keys
  would have done (only a restore that loaded data before the triggers could leave any).
  Adding them reads the whole table under a lock that blocks writes to ``codes``.
- On SQLite every table with an integer id is rebuilt with ``AUTOINCREMENT``, so an id is
  never handed out twice (ids above the highest one still present when this runs were
  never recorded, and may be handed out once more). A later batch migration that rebuilds
  one of these tables must pass ``table_kwargs={"sqlite_autoincrement": True}``: SQLite's
  reflection does not see the keyword (``tests/test_migrations.py`` checks it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 06:00:00

"""
from alembic import context, op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

#: (owner table, owner column in the link tables, link table prefix).
OWNERS = (
    ('price_rules', 'price_rule_id', 'price_rule'),
    ('bundles', 'bundle_id', 'bundle'),
    ('gift_rules', 'gift_rule_id', 'gift_rule'),
    ('benefit_programmes', 'programme_id', 'programme'),
    ('discounts', 'discount_id', 'discount'),
)
#: audience type → (target table, link column, link table suffix).
TARGETS = {
    'groups': ('groups', 'group_id', 'groups'),
    'segments': ('segments', 'segment_id', 'segments'),
}
#: Every table with an integer id at this revision.
INTEGER_IDS = (
    'audience_runs', 'audiences', 'automation_runs', 'automations', 'benefit_programmes',
    'benefit_tiers', 'bundle_items', 'bundles', 'checkout_answers', 'code_attempts',
    'code_blocks', 'codes', 'customers', 'discounts', 'gift_rules', 'groups', 'jobs',
    'order_lines', 'orders', 'outbox_events', 'price_rules', 'processed_events', 'redemptions',
    'segments', 'shops',
)
#: Tables that get a unique key on (shop_id, id) (discounts have had one since 0004).
SHOP_KEYED = ('groups', 'segments', 'price_rules', 'bundles', 'gift_rules', 'benefit_programmes')

DISCOUNT_KEY = 'fk_codes_shop_id_discounts'
CUSTOMER_KEY = 'fk_codes_assigned_customer_id_customers'
SOURCE_FITS_TYPE = (
    "(source_type = 'group' AND source_segment_id IS NULL)"
    " OR (source_type = 'segment' AND source_group_id IS NULL)"
)


def _sqlite():
    return op.get_bind().dialect.name == 'sqlite'


def _batch(table, autoincrement):
    """A batch on ``table``; on SQLite it rebuilds the table, with or without AUTOINCREMENT."""
    if _sqlite():
        return op.batch_alter_table(
            table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}
        )
    return op.batch_alter_table(table)


def _link_table(owner, owner_column, prefix, kind):
    target, target_column, suffix = TARGETS[kind]
    name = f'{prefix}_{suffix}'
    return name, sa.table(
        name, sa.column('shop_id', sa.Integer()), sa.column(owner_column, sa.Integer()),
        sa.column(target_column, sa.Integer()),
    )


def upgrade():
    bind = op.get_bind()
    # 1. Read what is to be converted before the columns go.
    existing = {
        kind: {tuple(row) for row in bind.execute(sa.text(f'SELECT shop_id, id FROM {target}'))}
        for kind, (target, _, _) in TARGETS.items()
    }
    audiences = {}
    for owner, _, _ in OWNERS:
        table = sa.table(
            owner, sa.column('id', sa.Integer()), sa.column('shop_id', sa.Integer()),
            sa.column('audience_type', sa.String()), sa.column('audience_ids', sa.JSON()),
        )
        audiences[owner] = bind.execute(
            sa.select(table.c.id, table.c.shop_id, table.c.audience_type, table.c.audience_ids)
            .where(table.c.audience_type.in_(tuple(TARGETS)))
        ).all()
    sources = bind.execute(
        sa.text('SELECT id, shop_id, source_type, source_id FROM audiences')
    ).all()

    # 2. The tables themselves (on SQLite, each rebuilt once, with AUTOINCREMENT).
    for table in INTEGER_IDS:
        with _batch(table, autoincrement=True) as batch_op:
            if table in SHOP_KEYED:
                batch_op.create_unique_constraint(
                    batch_op.f(f'uq_{table}_shop_id_id'), ['shop_id', 'id']
                )
            if table in {owner for owner, _, _ in OWNERS}:
                batch_op.drop_column('audience_ids')
            if table == 'audiences':
                batch_op.add_column(sa.Column('source_group_id', sa.Integer(), nullable=True))
                batch_op.add_column(sa.Column('source_segment_id', sa.Integer(), nullable=True))
                batch_op.drop_column('source_id')
                batch_op.create_index(
                    batch_op.f('ix_audiences_source_group_id'), ['source_group_id']
                )
                batch_op.create_index(
                    batch_op.f('ix_audiences_source_segment_id'), ['source_segment_id']
                )
                batch_op.create_foreign_key(
                    batch_op.f('fk_audiences_source_group_id_groups'), 'groups',
                    ['source_group_id'], ['id'], ondelete='SET NULL',
                )
                batch_op.create_foreign_key(
                    batch_op.f('fk_audiences_source_segment_id_segments'), 'segments',
                    ['source_segment_id'], ['id'], ondelete='SET NULL',
                )
                batch_op.create_check_constraint(
                    batch_op.f('ck_audiences_source_fits_type'), SOURCE_FITS_TYPE
                )

    # 3. The link tables, filled from the id lists (ids of no group or segment of the
    #    shop are dropped).
    for owner, owner_column, prefix in OWNERS:
        for kind, (target, target_column, _) in TARGETS.items():
            name, link = _link_table(owner, owner_column, prefix, kind)
            op.create_table(
                name,
                sa.Column('shop_id', sa.Integer(), nullable=False),
                sa.Column(owner_column, sa.Integer(), nullable=False),
                sa.Column(target_column, sa.Integer(), nullable=False),
                sa.ForeignKeyConstraint(
                    ['shop_id', owner_column], [f'{owner}.shop_id', f'{owner}.id'],
                    name=op.f(f'fk_{name}_shop_id_{owner}'), ondelete='CASCADE',
                ),
                sa.ForeignKeyConstraint(
                    ['shop_id', target_column], [f'{target}.shop_id', f'{target}.id'],
                    name=op.f(f'fk_{name}_shop_id_{target}'), ondelete='CASCADE',
                ),
                sa.PrimaryKeyConstraint(owner_column, target_column, name=op.f(f'pk_{name}')),
            )
            op.create_index(op.f(f'ix_{name}_{target_column}'), name, [target_column])
            rows = [
                {'shop_id': shop_id, owner_column: owner_id, target_column: target_id}
                for owner_id, shop_id, audience_type, ids in audiences[owner]
                if audience_type == kind
                for target_id in sorted({i for i in ids or () if isinstance(i, int)})
                if (shop_id, target_id) in existing[kind]
            ]
            if rows:
                op.bulk_insert(link, rows)

    # 4. Audience sources that still exist, into their column.
    table = sa.table(
        'audiences', sa.column('id', sa.Integer()), sa.column('source_group_id', sa.Integer()),
        sa.column('source_segment_id', sa.Integer()),
    )
    for audience_id, shop_id, source_type, source_id in sources:
        kind = 'groups' if source_type == 'group' else 'segments'
        if (shop_id, source_id) in existing[kind]:
            column = 'source_group_id' if kind == 'groups' else 'source_segment_id'
            bind.execute(
                table.update().where(table.c.id == audience_id).values({column: source_id})
            )

    # 5. codes: real foreign keys on PostgreSQL too (SQLite has kept them).
    if not _sqlite():
        for statement in _codes_triggers().DROP:
            op.execute(statement)
        op.execute(
            'DELETE FROM codes AS c WHERE NOT EXISTS (SELECT 1 FROM discounts AS d'
            ' WHERE d.shop_id = c.shop_id AND d.id = c.discount_id)'
        )
        op.execute(
            'UPDATE codes AS c SET assigned_customer_id = NULL'
            ' WHERE assigned_customer_id IS NOT NULL AND NOT EXISTS'
            ' (SELECT 1 FROM customers AS u WHERE u.id = c.assigned_customer_id)'
        )
        op.create_foreign_key(
            DISCOUNT_KEY, 'codes', 'discounts', ['shop_id', 'discount_id'], ['shop_id', 'id'],
            ondelete='CASCADE',
        )
        op.create_foreign_key(
            CUSTOMER_KEY, 'codes', 'customers', ['assigned_customer_id'], ['id'],
            ondelete='SET NULL',
        )


def _codes_triggers():
    """Migration 0010, whose (frozen) trigger SQL the downgrade puts back."""
    return context.script.get_revision('0010').module


def downgrade():
    bind = op.get_bind()
    if not _sqlite():
        op.drop_constraint(CUSTOMER_KEY, 'codes', type_='foreignkey')
        op.drop_constraint(DISCOUNT_KEY, 'codes', type_='foreignkey')
        for statement in _codes_triggers().CREATE:
            op.execute(statement)

    # Link rows back into id lists.
    lists = {}
    for owner, owner_column, prefix in OWNERS:
        for kind, (_, target_column, _) in TARGETS.items():
            name, _ = _link_table(owner, owner_column, prefix, kind)
            for owner_id, target_id in bind.execute(
                sa.text(f'SELECT {owner_column}, {target_column} FROM {name} ORDER BY 1, 2')
            ):
                lists.setdefault((owner, owner_id), []).append(target_id)
            op.drop_table(name)
    sources = bind.execute(
        sa.text('SELECT id, source_group_id, source_segment_id FROM audiences')
    ).all()

    for table in INTEGER_IDS:
        if table in {owner for owner, _, _ in OWNERS}:
            with op.batch_alter_table(table) as batch_op:
                batch_op.add_column(
                    sa.Column('audience_ids', sa.JSON(), nullable=True, server_default='[]')
                )
            owner = sa.table(
                table, sa.column('id', sa.Integer()), sa.column('audience_ids', sa.JSON())
            )
            for (owner_table, owner_id), ids in lists.items():
                if owner_table == table:
                    bind.execute(
                        owner.update().where(owner.c.id == owner_id).values(audience_ids=ids)
                    )
        if table == 'audiences':
            with op.batch_alter_table(table) as batch_op:
                batch_op.add_column(sa.Column('source_id', sa.Integer(), nullable=True))
            audiences = sa.table(
                'audiences', sa.column('id', sa.Integer()), sa.column('source_id', sa.Integer())
            )
            for audience_id, group_id, segment_id in sources:
                # A source deleted since has no id left: 0, which no run finds.
                source_id = group_id if group_id is not None else segment_id
                bind.execute(
                    audiences.update()
                    .where(audiences.c.id == audience_id)
                    .values(source_id=source_id if source_id is not None else 0)
                )
        with _batch(table, autoincrement=False) as batch_op:
            if table in SHOP_KEYED:
                batch_op.drop_constraint(batch_op.f(f'uq_{table}_shop_id_id'), type_='unique')
            if table in {owner for owner, _, _ in OWNERS}:
                batch_op.alter_column(
                    'audience_ids', existing_type=sa.JSON(), nullable=False, server_default=None
                )
            if table == 'audiences':
                batch_op.drop_constraint(
                    batch_op.f('ck_audiences_source_fits_type'), type_='check'
                )
                batch_op.drop_constraint(
                    batch_op.f('fk_audiences_source_segment_id_segments'), type_='foreignkey'
                )
                batch_op.drop_constraint(
                    batch_op.f('fk_audiences_source_group_id_groups'), type_='foreignkey'
                )
                batch_op.drop_index(batch_op.f('ix_audiences_source_segment_id'))
                batch_op.drop_index(batch_op.f('ix_audiences_source_group_id'))
                batch_op.drop_column('source_segment_id')
                batch_op.drop_column('source_group_id')
                batch_op.alter_column('source_id', existing_type=sa.Integer(), nullable=False)
