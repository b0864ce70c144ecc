"""On PostgreSQL, the two references of ``codes`` checked per statement, not per row.

A foreign key is checked row by row: PostgreSQL queues one trigger event per
inserted row and runs one lookup for each, even for a NULL reference. For a pool
of a million codes the two foreign keys of ``codes`` (to its discount, to the
customer it is assigned to) cost about a fifth of the whole insert. The triggers
below give the same guarantees as

    FOREIGN KEY (shop_id, discount_id) REFERENCES discounts (shop_id, id) ON DELETE CASCADE
    FOREIGN KEY (assigned_customer_id) REFERENCES customers (id) ON DELETE SET NULL

with one check per statement:

- after an INSERT into ``codes``, each distinct (shop, discount, customer) of the
  new rows (a transition table; nearly always a single one) must exist, and is
  locked ``FOR KEY SHARE`` until the transaction ends: exactly the lock a foreign
  key takes, so a discount or customer cannot be deleted under codes being written;
- an UPDATE that moves a code to another discount, or assigns it to a customer, is
  checked the same way, row by row (assignment is one code at a time);
- deleting discounts deletes their codes (and, through ``redemptions``' own foreign
  key, their redemptions); deleting customers unassigns their codes; changing the
  key of a discount or customer that codes refer to is refused, and so is a TRUNCATE
  of ``discounts`` or ``customers`` that leaves codes referring to them (unless
  ``codes`` is truncated in the same statement).

Unlike a foreign key, rows already there when the triggers are created (a restore
that loads data first) are not checked, and the cascade runs with READ COMMITTED's
fresh snapshot: the extension never raises the isolation level.

A violation raises SQLSTATE 23503 (``foreign_key_violation``) naming the foreign
key it stands for, which SQLAlchemy reports as ``IntegrityError``, as it would the
foreign key. SQLite keeps real foreign keys (``Code.__table_args__``): its checks
are cheap, and it has no statement triggers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import DDL, Table, event

#: The foreign keys the triggers stand for (their names on SQLite, and in errors).
DISCOUNT_KEY = "fk_codes_shop_id_discounts"
CUSTOMER_KEY = "fk_codes_assigned_customer_id_customers"

_REFUSE = """
            RAISE EXCEPTION USING
                MESSAGE = 'insert or update on table "codes" violates constraint "{key}"',
                ERRCODE = 'foreign_key_violation', CONSTRAINT = '{key}',
                DETAIL = '{detail}';"""
_NO_DISCOUNT = _REFUSE.format(
    key=DISCOUNT_KEY, detail="A code must belong to an existing discount of its own shop."
)
_NO_CUSTOMER = _REFUSE.format(
    key=CUSTOMER_KEY, detail="A code can only be assigned to an existing customer."
)
_STILL_USED = """
        RAISE EXCEPTION USING
            MESSAGE = 'update or truncate on table "{table}" violates constraint "{key}"',
            ERRCODE = 'foreign_key_violation', CONSTRAINT = '{key}',
            DETAIL = 'Codes still refer to it.';"""


@dataclass(frozen=True)
class Trigger:
    """A trigger and its function, both named by its key in :data:`TRIGGERS`."""

    table: str
    #: Everything between the trigger's name and ``EXECUTE FUNCTION``.
    when: str
    #: The function's PL/pgSQL, between its ``$$``.
    body: str


TRIGGERS: dict[str, Trigger] = {
    "cg_codes_check_added": Trigger(
        "codes",
        "AFTER INSERT ON codes REFERENCING NEW TABLE AS added FOR EACH STATEMENT",
        f"""
DECLARE
    ref record;
BEGIN
    FOR ref IN SELECT DISTINCT shop_id, discount_id, assigned_customer_id FROM added LOOP
        PERFORM 1 FROM discounts AS d
        WHERE d.shop_id = ref.shop_id AND d.id = ref.discount_id
        FOR KEY SHARE OF d;
        IF NOT FOUND THEN{_NO_DISCOUNT}
        END IF;
        IF ref.assigned_customer_id IS NOT NULL THEN
            PERFORM 1 FROM customers AS c WHERE c.id = ref.assigned_customer_id
            FOR KEY SHARE OF c;
            IF NOT FOUND THEN{_NO_CUSTOMER}
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
""",
    ),
    "cg_codes_check_changed": Trigger(
        "codes",
        "BEFORE UPDATE OF shop_id, discount_id, assigned_customer_id ON codes FOR EACH "
        "ROW WHEN (NEW.shop_id IS DISTINCT FROM OLD.shop_id OR NEW.discount_id IS "
        "DISTINCT FROM OLD.discount_id OR (NEW.assigned_customer_id IS NOT NULL AND "
        "NEW.assigned_customer_id IS DISTINCT FROM OLD.assigned_customer_id))",
        f"""
BEGIN
    IF NEW.shop_id IS DISTINCT FROM OLD.shop_id OR NEW.discount_id IS DISTINCT FROM OLD.discount_id
    THEN
        PERFORM 1 FROM discounts AS d
        WHERE d.shop_id = NEW.shop_id AND d.id = NEW.discount_id
        FOR KEY SHARE OF d;
        IF NOT FOUND THEN{_NO_DISCOUNT}
        END IF;
    END IF;
    IF NEW.assigned_customer_id IS NOT NULL
        AND NEW.assigned_customer_id IS DISTINCT FROM OLD.assigned_customer_id
    THEN
        PERFORM 1 FROM customers AS c WHERE c.id = NEW.assigned_customer_id
        FOR KEY SHARE OF c;
        IF NOT FOUND THEN{_NO_CUSTOMER}
        END IF;
    END IF;
    RETURN NEW;
END
""",
    ),
    "cg_discounts_delete_codes": Trigger(
        "discounts",
        "AFTER DELETE ON discounts REFERENCING OLD TABLE AS removed FOR EACH STATEMENT",
        """
BEGIN
    DELETE FROM codes AS c USING removed AS r
    WHERE c.shop_id = r.shop_id AND c.discount_id = r.id;
    RETURN NULL;
END
""",
    ),
    "cg_discounts_keep_key": Trigger(
        "discounts",
        "BEFORE UPDATE OF shop_id, id ON discounts FOR EACH ROW WHEN (NEW.shop_id IS "
        "DISTINCT FROM OLD.shop_id OR NEW.id IS DISTINCT FROM OLD.id)",
        f"""
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE shop_id = OLD.shop_id AND discount_id = OLD.id) THEN
        {_STILL_USED.format(table="discounts", key=DISCOUNT_KEY).strip()}
    END IF;
    RETURN NEW;
END
""",
    ),
    "cg_discounts_truncated": Trigger(
        "discounts",
        "AFTER TRUNCATE ON discounts FOR EACH STATEMENT",
        f"""
BEGIN
    -- After every table of the TRUNCATE is emptied: codes too, or it is refused.
    IF EXISTS (SELECT 1 FROM codes) THEN
        {_STILL_USED.format(table="discounts", key=DISCOUNT_KEY).strip()}
    END IF;
    RETURN NULL;
END
""",
    ),
    "cg_customers_truncated": Trigger(
        "customers",
        "AFTER TRUNCATE ON customers FOR EACH STATEMENT",
        f"""
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE assigned_customer_id IS NOT NULL) THEN
        {_STILL_USED.format(table="customers", key=CUSTOMER_KEY).strip()}
    END IF;
    RETURN NULL;
END
""",
    ),
    "cg_customers_release_codes": Trigger(
        "customers",
        "AFTER DELETE ON customers REFERENCING OLD TABLE AS removed FOR EACH STATEMENT",
        """
BEGIN
    UPDATE codes SET assigned_customer_id = NULL
    WHERE assigned_customer_id IN (SELECT id FROM removed);
    RETURN NULL;
END
""",
    ),
    "cg_customers_keep_key": Trigger(
        "customers",
        "BEFORE UPDATE OF id ON customers FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)",
        f"""
BEGIN
    IF EXISTS (SELECT 1 FROM codes WHERE assigned_customer_id = OLD.id) THEN
        {_STILL_USED.format(table="customers", key=CUSTOMER_KEY).strip()}
    END IF;
    RETURN NEW;
END
""",
    ),
}


def create_statements() -> list[str]:
    """Everything to run, in order, on a database whose tables exist."""
    return [
        *(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger\n"
            f"LANGUAGE plpgsql AS $${trigger.body}$$"
            for name, trigger in TRIGGERS.items()
        ),
        *(
            f"CREATE TRIGGER {name} {trigger.when} EXECUTE FUNCTION {name}()"
            for name, trigger in TRIGGERS.items()
        ),
    ]


def drop_statements() -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS {name} ON {t.table}" for name, t in TRIGGERS.items()),
        *(f"DROP FUNCTION IF EXISTS {name}()" for name in TRIGGERS),
    ]


def install(codes: Table) -> None:
    """Create the functions and triggers right after ``codes`` (which comes after
    ``discounts`` and ``customers``) whenever the models' tables are created on
    PostgreSQL, and drop them before it is dropped: ``discounts`` and ``customers``
    may outlive it, and their triggers would then call functions about a table no
    longer there."""
    for statement in create_statements():
        event.listen(codes, "after_create", DDL(statement).execute_if(dialect="postgresql"))
    for statement in drop_statements():
        event.listen(codes, "before_drop", DDL(statement).execute_if(dialect="postgresql"))
