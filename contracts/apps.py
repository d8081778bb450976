"""App configuration of contracts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = _("Contracts")

    def ready(self) -> None:
        from contracts.demo import seed_contracts, seed_invoices
        from fleet.demo import register_demo_step

        register_demo_step("contracts", seed_contracts, order=60)
        register_demo_step("invoices", seed_invoices, order=62)
