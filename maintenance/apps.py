"""App configuration of maintenance."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = _("Maintenance")

    def ready(self) -> None:
        from maintenance.selectors import register_technician_scopes
        from maintenance.services import work_order_open_for_alert
        from telemetry.hooks import register_work_order_opener

        register_technician_scopes()
        register_work_order_opener(work_order_open_for_alert)
