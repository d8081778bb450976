"""App configuration of maintenance."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = _("Maintenance")

    def ready(self) -> None:
        from fleet.dashboard import register_dashboard_tiles
        from fleet.demo import register_demo_step
        from maintenance.demo import seed_maintenance
        from maintenance.selectors import register_technician_scopes
        from maintenance.services import work_order_open_for_alert
        from maintenance.views.work_orders import work_order_tiles
        from telemetry.hooks import register_work_order_opener

        register_technician_scopes()
        register_demo_step("maintenance", seed_maintenance, order=40)
        register_dashboard_tiles(work_order_tiles)
        register_work_order_opener(work_order_open_for_alert)
