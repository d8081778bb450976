"""App configuration of telemetry."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelemetryConfig(AppConfig):
    name = "telemetry"
    verbose_name = _("Telemetry")

    def ready(self) -> None:
        from fleet.demo import register_demo_step
        from telemetry.demo import seed_telemetry

        register_demo_step("telemetry", seed_telemetry, order=30)

        from fleet.dashboard import register_dashboard_tiles
        from fleet.panels import register_panel
        from telemetry.views.alerts import alert_tiles, asset_alerts_panel

        register_dashboard_tiles(alert_tiles)
        register_panel("asset", asset_alerts_panel)

        from telemetry.views.ingest import ingest_tiles, meter_read_panel

        register_dashboard_tiles(ingest_tiles)
        register_panel("asset", meter_read_panel)

        from telemetry.views.readings import asset_panel

        register_panel("asset", asset_panel)
