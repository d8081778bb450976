"""App configuration of maintenance."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaintenanceConfig(AppConfig):
    name = "maintenance"
    verbose_name = _("Maintenance")

    def ready(self) -> None:
        from fleet.dashboard import register_dashboard_tiles
        from fleet.demo import register_demo_step
        from fleet.panels import register_panel
        from maintenance.demo import seed_maintenance
        from maintenance.demo.approvals import seed_approvals
        from maintenance.demo.forecasts import seed_forecasts
        from maintenance.demo.history import seed_history
        from maintenance.demo.inspections import seed_inspections
        from maintenance.demo.plans import seed_plans
        from maintenance.demo.sla import seed_sla
        from maintenance.demo.supplies import seed_supplies
        from maintenance.demo.work import seed_work
        from maintenance.selectors import register_technician_scopes
        from maintenance.services import work_order_open_for_alert
        from maintenance.views import (
            approvals,
            inspections,
            plans,
            replacements,
            sla,
            supplies,
            technician,
            work,
            work_orders,
        )
        from telemetry.hooks import register_work_order_opener

        register_technician_scopes()
        register_work_order_opener(work_order_open_for_alert)

        register_demo_step("maintenance_sla", seed_sla, order=35)
        register_demo_step("maintenance", seed_maintenance, order=40)
        register_demo_step("maintenance_work", seed_work, order=45)
        register_demo_step("maintenance_approvals", seed_approvals, order=46)
        register_demo_step("maintenance_plans", seed_plans, order=47)
        register_demo_step("maintenance_history", seed_history, order=48)
        register_demo_step("maintenance_inspections", seed_inspections, order=49)
        register_demo_step("maintenance_forecasts", seed_forecasts, order=50)
        register_demo_step("maintenance_supplies", seed_supplies, order=52)

        for tiles in (
            work_orders.work_order_tiles,
            technician.my_day_tiles,
            sla.sla_tiles,
            plans.inspection_tiles,
            approvals.approval_tiles,
            replacements.replacement_tiles,
        ):
            register_dashboard_tiles(tiles)
        for panel in (
            sla.sla_work_order_panel,
            work.work_order_work_panel,
            approvals.approval_panel,
            plans.work_order_plan_panel,
        ):
            register_panel("work_order", panel)
        for panel in (
            technician.asset_work_orders_panel,
            work.asset_work_panel,
            plans.asset_inspections_panel,
            inspections.asset_qr_panel,
            supplies.asset_supplies_panel,
            replacements.asset_forecasts_panel,
        ):
            register_panel("asset", panel)
