"""Fast inserts of many rows: ``COPY`` on PostgreSQL, batched ``bulk_create`` elsewhere."""

from collections.abc import Iterable, Sequence

from django.db import connections, models
from django.utils import timezone

BULK_CREATE_BATCH_SIZE = 5000


def bulk_load(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    using: str = "default",
) -> int:
    """Insert ``rows`` (tuples in the order of ``fields``, by attribute name such as ``customer_id``) fast.

    PostgreSQL: one ``COPY ... FROM STDIN``; other databases: ``bulk_create`` in batches of
    ``BULK_CREATE_BATCH_SIZE``. Timestamps that the model fills itself (``auto_now``/``auto_now_add``) are
    set to now when ``fields`` leaves them out. No signals, no ``save()``, no primary keys returned: read
    the rows back by a natural key when a later step needs their ids. Returns the number of rows written.
    """
    fields = list(fields)
    now = timezone.now()
    stamped = [
        f.attname
        for f in model._meta.concrete_fields
        if (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)) and f.attname not in fields
    ]
    connection = connections[using]
    count = 0
    if connection.vendor == "postgresql":
        columns = [model._meta.get_field(name).column for name in fields] + [
            model._meta.get_field(name).column for name in stamped
        ]
        quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
        table = connection.ops.quote_name(model._meta.db_table)
        extra = (now,) * len(stamped)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, *extra))
                count += 1
        return count
    batch: list[models.Model] = []
    for row in rows:
        instance = model(**dict(zip(fields, row, strict=True)))
        for name in stamped:
            setattr(instance, name, now)
        batch.append(instance)
        if len(batch) >= BULK_CREATE_BATCH_SIZE:
            model.objects.using(using).bulk_create(batch)
            count += len(batch)
            batch = []
    if batch:
        model.objects.using(using).bulk_create(batch)
        count += len(batch)
    return count
