"""App configuration of reports."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from fleet.demo import register_demo_step
        from reports.demo import seed_acquisition_spend, seed_kpi_snapshots, seed_ledger, seed_nps, seed_proposals

        register_demo_step("ledger", seed_ledger, order=70)
        register_demo_step("proposals", seed_proposals, order=72)
        register_demo_step("nps", seed_nps, order=74)
        register_demo_step("acquisition_spend", seed_acquisition_spend, order=76)
        register_demo_step("kpi_snapshots", seed_kpi_snapshots, order=78)
