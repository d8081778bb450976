"""A finalised invoice cannot be altered, even by SQL: triggers refuse changes to its amounts, identity and lines.

On ``contracts_invoice`` an UPDATE of a finalised row may change only the rendered files (``pdf``, ``xml``) and
``finalised_by`` (set to NULL when that user is deleted); any other column, and a DELETE, raise. Rows of
``contracts_invoiceline``, ``contracts_invoicelineasset`` and ``contracts_invoicetax`` cannot be inserted, updated
or deleted once their invoice is finalised. PostgreSQL and SQLite each get their own dialect.
"""

from django.db import migrations

FROZEN_COLUMNS = (
    "provider_id",
    "customer_id",
    "kind",
    "status",
    "run_id",
    "corrects_id",
    "number",
    "year",
    "month",
    "period_start",
    "period_end",
    "currency",
    "language",
    "time_zone",
    "issue_date",
    "due_date",
    "payment_terms_days",
    "billing_day",
    "tax_rounding",
    "net_total",
    "tax_total",
    "total",
    "seller",
    "buyer",
    "note",
    "drafted_at",
    "finalised_at",
)
MESSAGE = "finalised invoice is frozen"

# (table, the SQL that finds the row's invoice id from NEW or OLD)
CHILD_TABLES = (
    ("contracts_invoiceline", "{row}.invoice_id"),
    ("contracts_invoicetax", "{row}.invoice_id"),
    (
        "contracts_invoicelineasset",
        "(SELECT line.invoice_id FROM contracts_invoiceline line WHERE line.id = {row}.line_id)",
    ),
)


def _postgresql() -> tuple[list[str], list[str]]:
    changed = " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in FROZEN_COLUMNS)
    forward = [
        f"""
        CREATE FUNCTION contracts_invoice_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'finalised' THEN
                IF TG_OP = 'DELETE' OR {changed} THEN
                    RAISE EXCEPTION '{MESSAGE}: %', OLD.number USING ERRCODE = 'integrity_constraint_violation';
                END IF;
            END IF;
            IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
            RETURN NEW;
        END $$;
        """,
        """
        CREATE TRIGGER contracts_invoice_frozen BEFORE UPDATE OR DELETE ON contracts_invoice
        FOR EACH ROW EXECUTE FUNCTION contracts_invoice_frozen();
        """,
    ]
    backward = ["DROP TRIGGER IF EXISTS contracts_invoice_frozen ON contracts_invoice;"]
    for table, invoice_of in CHILD_TABLES:
        new_id, old_id = invoice_of.format(row="NEW"), invoice_of.format(row="OLD")
        forward += [
            f"""
            CREATE FUNCTION {table}_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF (TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (
                        SELECT 1 FROM contracts_invoice i WHERE i.id = {new_id} AND i.status = 'finalised'))
                   OR (TG_OP IN ('UPDATE', 'DELETE') AND EXISTS (
                        SELECT 1 FROM contracts_invoice i WHERE i.id = {old_id} AND i.status = 'finalised')) THEN
                    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                RETURN NEW;
            END $$;
            """,
            f"""
            CREATE TRIGGER {table}_frozen BEFORE INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_frozen();
            """,
        ]
        backward += [f"DROP TRIGGER IF EXISTS {table}_frozen ON {table};", f"DROP FUNCTION IF EXISTS {table}_frozen();"]
    backward.append("DROP FUNCTION IF EXISTS contracts_invoice_frozen();")
    return forward, backward


def _sqlite() -> tuple[list[str], list[str]]:
    changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in FROZEN_COLUMNS)
    forward = [
        f"""
        CREATE TRIGGER contracts_invoice_frozen_update BEFORE UPDATE ON contracts_invoice
        FOR EACH ROW WHEN OLD.status = 'finalised' AND ({changed})
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """,
        f"""
        CREATE TRIGGER contracts_invoice_frozen_delete BEFORE DELETE ON contracts_invoice
        FOR EACH ROW WHEN OLD.status = 'finalised'
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """,
    ]
    backward = [
        "DROP TRIGGER IF EXISTS contracts_invoice_frozen_update;",
        "DROP TRIGGER IF EXISTS contracts_invoice_frozen_delete;",
    ]
    for table, invoice_of in CHILD_TABLES:
        for operation, rows in (("INSERT", ("NEW",)), ("UPDATE", ("NEW", "OLD")), ("DELETE", ("OLD",))):
            condition = " OR ".join(
                f"EXISTS (SELECT 1 FROM contracts_invoice i WHERE i.id = {invoice_of.format(row=row)} "
                "AND i.status = 'finalised')"
                for row in rows
            )
            name = f"{table}_frozen_{operation.lower()}"
            forward.append(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} FOR EACH ROW WHEN {condition} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;"
            )
            backward.append(f"DROP TRIGGER IF EXISTS {name};")
    return forward, backward


def _statements(vendor: str, direction: int) -> list[str]:
    if vendor == "postgresql":
        return _postgresql()[direction]
    if vendor == "sqlite":
        return _sqlite()[direction]
    raise NotImplementedError(f"No invoice freeze triggers for {vendor}")


def install(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, 0):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, 1):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("contracts", "0002_billing")]

    operations = [migrations.RunPython(install, uninstall)]
