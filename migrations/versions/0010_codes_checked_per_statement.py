"""codes: a code's discount checked once per statement on PostgreSQL; keys compared as bytes

On PostgreSQL the two foreign keys of ``codes`` (to ``discounts``, to ``customers``)
are replaced by the triggers of ``plugin.codes.integrity``, which give the same
guarantees (checked, locked ``FOR KEY SHARE``, cascaded or set null on delete) with
one check per statement instead of one per row, and ``codes.code_key`` is compared with
``COLLATE "C"``. On both databases ``shared``, ``status``, ``times_used`` and
``created_at`` get server defaults, so bulk writes send only four columns. Together
they make a million-code insert about 40 % cheaper. SQLite keeps its foreign key.

The triggers' SQL is a copy of ``plugin.codes.integrity`` as of this revision (a
revision must replay the same way whatever the code becomes); the test of the
migrations checks that a migrated database has the same triggers as one built from
the models. On a large ``codes`` table the collation change rebuilds the unique index
under an exclusive lock: plan a maintenance window.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 16:20:00

"""
from alembic import op
import sqlalchemy as sa

import plugin.db


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

DISCOUNT_KEY = 'fk_codes_shop_id_discounts'
CUSTOMER_KEY = 'fk_codes_assigned_customer_id_customers'

CREATE = (
    """
CREATE OR REPLACE FUNCTION cg_codes_check_added() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ref record;
BEGIN
    FOR ref IN SELECT DISTINCT shop_id, discount_id, assigned_customer_id FROM added LOOP
        PERFORM 1 FROM discounts AS d
        WHERE d.shop_id = ref.shop_id AND d.id = ref.discount_id
        FOR KEY SHARE OF d;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING
                MESSAGE = 'insert or update on table "codes" violates constraint "fk_codes_shop_id_discounts"',
                ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_shop_id_discounts',
                DETAIL = 'A code must belong to an existing discount of its own shop.';
        END IF;
        IF ref.assigned_customer_id IS NOT NULL THEN
            PERFORM 1 FROM customers AS c WHERE c.id = ref.assigned_customer_id
            FOR KEY SHARE OF c;
            IF NOT FOUND THEN
            RAISE EXCEPTION USING
                MESSAGE = 'insert or update on table "codes" violates constraint "fk_codes_assigned_customer_id_customers"',
                ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_assigned_customer_id_customers',
                DETAIL = 'A code can only be assigned to an existing customer.';
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_codes_check_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.shop_id IS DISTINCT FROM OLD.shop_id OR NEW.discount_id IS DISTINCT FROM OLD.discount_id
    THEN
        PERFORM 1 FROM discounts AS d
        WHERE d.shop_id = NEW.shop_id AND d.id = NEW.discount_id
        FOR KEY SHARE OF d;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING
                MESSAGE = 'insert or update on table "codes" violates constraint "fk_codes_shop_id_discounts"',
                ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_shop_id_discounts',
                DETAIL = 'A code must belong to an existing discount of its own shop.';
        END IF;
    END IF;
    IF NEW.assigned_customer_id IS NOT NULL
        AND NEW.assigned_customer_id IS DISTINCT FROM OLD.assigned_customer_id
    THEN
        PERFORM 1 FROM customers AS c WHERE c.id = NEW.assigned_customer_id
        FOR KEY SHARE OF c;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING
                MESSAGE = 'insert or update on table "codes" violates constraint "fk_codes_assigned_customer_id_customers"',
                ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_assigned_customer_id_customers',
                DETAIL = 'A code can only be assigned to an existing customer.';
        END IF;
    END IF;
    RETURN NEW;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_discounts_delete_codes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM codes AS c USING removed AS r
    WHERE c.shop_id = r.shop_id AND c.discount_id = r.id;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_discounts_keep_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE shop_id = OLD.shop_id AND discount_id = OLD.id) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'update or truncate on table "discounts" violates constraint "fk_codes_shop_id_discounts"',
            ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_shop_id_discounts',
            DETAIL = 'Codes still refer to it.';
    END IF;
    RETURN NEW;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_customers_release_codes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE codes SET assigned_customer_id = NULL
    WHERE assigned_customer_id IN (SELECT id FROM removed);
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_discounts_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- After every table of the TRUNCATE is emptied: codes too, or it is refused.
    IF EXISTS (SELECT 1 FROM codes) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'update or truncate on table "discounts" violates constraint "fk_codes_shop_id_discounts"',
            ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_shop_id_discounts',
            DETAIL = 'Codes still refer to it.';
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_customers_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE assigned_customer_id IS NOT NULL) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'update or truncate on table "customers" violates constraint "fk_codes_assigned_customer_id_customers"',
            ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_assigned_customer_id_customers',
            DETAIL = 'Codes still refer to it.';
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION cg_customers_keep_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE assigned_customer_id = OLD.id) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'update or truncate on table "customers" violates constraint "fk_codes_assigned_customer_id_customers"',
            ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_codes_assigned_customer_id_customers',
            DETAIL = 'Codes still refer to it.';
    END IF;
    RETURN NEW;
END
$$
""",
    """
CREATE TRIGGER cg_codes_check_added AFTER INSERT ON codes REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION cg_codes_check_added()
""",
    """
CREATE TRIGGER cg_codes_check_changed BEFORE UPDATE OF shop_id, discount_id, assigned_customer_id ON codes FOR EACH ROW WHEN (NEW.shop_id IS DISTINCT FROM OLD.shop_id OR NEW.discount_id IS DISTINCT FROM OLD.discount_id OR (NEW.assigned_customer_id IS NOT NULL AND NEW.assigned_customer_id IS DISTINCT FROM OLD.assigned_customer_id)) EXECUTE FUNCTION cg_codes_check_changed()
""",
    """
CREATE TRIGGER cg_discounts_delete_codes AFTER DELETE ON discounts REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION cg_discounts_delete_codes()
""",
    """
CREATE TRIGGER cg_discounts_keep_key BEFORE UPDATE OF shop_id, id ON discounts FOR EACH ROW WHEN (NEW.shop_id IS DISTINCT FROM OLD.shop_id OR NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION cg_discounts_keep_key()
""",
    """
CREATE TRIGGER cg_discounts_truncated AFTER TRUNCATE ON discounts FOR EACH STATEMENT EXECUTE FUNCTION cg_discounts_truncated()
""",
    """
CREATE TRIGGER cg_customers_truncated AFTER TRUNCATE ON customers FOR EACH STATEMENT EXECUTE FUNCTION cg_customers_truncated()
""",
    """
CREATE TRIGGER cg_customers_release_codes AFTER DELETE ON customers REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION cg_customers_release_codes()
""",
    """
CREATE TRIGGER cg_customers_keep_key BEFORE UPDATE OF id ON customers FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION cg_customers_keep_key()
""",
)

DROP = (
    'DROP TRIGGER IF EXISTS cg_codes_check_added ON codes',
    'DROP TRIGGER IF EXISTS cg_codes_check_changed ON codes',
    'DROP TRIGGER IF EXISTS cg_discounts_delete_codes ON discounts',
    'DROP TRIGGER IF EXISTS cg_discounts_keep_key ON discounts',
    'DROP TRIGGER IF EXISTS cg_discounts_truncated ON discounts',
    'DROP TRIGGER IF EXISTS cg_customers_truncated ON customers',
    'DROP TRIGGER IF EXISTS cg_customers_release_codes ON customers',
    'DROP TRIGGER IF EXISTS cg_customers_keep_key ON customers',
    'DROP FUNCTION IF EXISTS cg_codes_check_added()',
    'DROP FUNCTION IF EXISTS cg_codes_check_changed()',
    'DROP FUNCTION IF EXISTS cg_discounts_delete_codes()',
    'DROP FUNCTION IF EXISTS cg_discounts_keep_key()',
    'DROP FUNCTION IF EXISTS cg_customers_release_codes()',
    'DROP FUNCTION IF EXISTS cg_discounts_truncated()',
    'DROP FUNCTION IF EXISTS cg_customers_truncated()',
    'DROP FUNCTION IF EXISTS cg_customers_keep_key()',
)


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
    for statement in CREATE:
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
    for statement in DROP:
        op.execute(statement)
    op.create_foreign_key(
        DISCOUNT_KEY, 'codes', 'discounts', ['shop_id', 'discount_id'], ['shop_id', 'id'],
        ondelete='CASCADE',
    )
    op.create_foreign_key(
        CUSTOMER_KEY, 'codes', 'customers', ['assigned_customer_id'], ['id'],
        ondelete='SET NULL',
    )
