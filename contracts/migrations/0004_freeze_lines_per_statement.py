"""On PostgreSQL, the lines, taxes and per-asset rows of a finalised invoice are guarded once per statement.

0003's row triggers ran a plpgsql call and a lookup for every row written: a draft of hundreds of per-asset rows
paid for each. These statement triggers see the statement's rows at once (transition tables) and refuse the
whole statement when any of them belongs to a finalised invoice, the same rule in one query. PostgreSQL allows a
transition table on a trigger of one event only: each table gets one trigger for INSERT, UPDATE and DELETE.
SQLite has no statement triggers and keeps 0003's row triggers.
"""

from importlib import import_module

from django.db import migrations

MESSAGE = "finalised invoice is frozen"

# (table, the join from its rows ``changed`` to the invoice ``i``)
CHILD_TABLES = (
    ("contracts_invoiceline", "contracts_invoice i ON i.id = changed.invoice_id"),
    ("contracts_invoicetax", "contracts_invoice i ON i.id = changed.invoice_id"),
    (
        "contracts_invoicelineasset",
        "contracts_invoiceline line ON line.id = changed.line_id JOIN contracts_invoice i ON i.id = line.invoice_id",
    ),
)
# (event, the transition tables it references, the ones whose rows are checked)
EVENTS = (
    ("INSERT", "NEW TABLE AS new_rows", ("new_rows",)),
    ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", ("old_rows", "new_rows")),
    ("DELETE", "OLD TABLE AS old_rows", ("old_rows",)),
)


def _statement_triggers() -> tuple[list[str], list[str]]:
    forward, backward = [], []
    for table, join in CHILD_TABLES:
        forward.append(f"DROP TRIGGER IF EXISTS {table}_frozen ON {table};")
        forward.append(f"DROP FUNCTION IF EXISTS {table}_frozen();")
        for event, referencing, checked in EVENTS:
            name = f"{table}_frozen_{event.lower()}"
            condition = " OR ".join(
                f"EXISTS (SELECT 1 FROM {rows} changed JOIN {join} WHERE i.status = 'finalised')" for rows in checked
            )
            forward += [
                f"""
                CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF {condition} THEN
                        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                    RETURN NULL;
                END $$;
                """,
                f"""
                CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing}
                FOR EACH STATEMENT EXECUTE FUNCTION {name}();
                """,
            ]
            backward += [f"DROP TRIGGER IF EXISTS {name} ON {table};", f"DROP FUNCTION IF EXISTS {name}();"]
    return forward, backward


def _row_triggers_of_0003() -> list[str]:
    """0003's child-table row triggers (its statements after the invoice's own function and trigger)."""
    statements = import_module("contracts.migrations.0003_freeze_finalised_invoices")._postgresql()[0]
    return statements[2:]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in _statement_triggers()[0]:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in [*_statement_triggers()[1], *_row_triggers_of_0003()]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("contracts", "0003_freeze_finalised_invoices")]

    operations = [migrations.RunPython(install, uninstall)]
