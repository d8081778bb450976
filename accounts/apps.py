"""App configuration of accounts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts.dashboard import customer_tiles
        from accounts.demo import generate_customers, seed_accounts
        from fleet.dashboard import register_dashboard_tiles
        from fleet.demo import register_demo_step, register_scale_step

        register_dashboard_tiles(customer_tiles)

        register_demo_step("accounts", seed_accounts, order=10)
        register_scale_step("customers", generate_customers, order=10)
