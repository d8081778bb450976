from django.conf import settings
from django.db import migrations, models

from fleet.migration_operations import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: the meter ledger keeps taking readings while the index builds

    dependencies = [
        ("assets", "0003_list_indexes"),
        ("telemetry", "0002_alert_handling"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="reading",
            index=models.Index(
                models.F("asset"),
                models.F("meter"),
                models.F("taken_at"),
                models.Case(
                    models.When(source="technician", then=models.Value(0)),
                    models.When(source="customer", then=models.Value(1)),
                    models.When(source="device", then=models.Value(2)),
                    default=models.Value(3),
                    output_field=models.IntegerField(),
                ),
                condition=models.Q(("invalidated_at__isnull", True)),
                include=("value", "source"),
                name="telemetry_reading_series",
            ),
        ),
    ]
