"""App configuration of assets."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssetsConfig(AppConfig):
    name = "assets"
    verbose_name = _("Assets")

    def ready(self) -> None:
        from assets.dashboard import asset_tiles
        from assets.demo import generate_assets, generate_catalogue, generate_sites, seed_assets
        from fleet.dashboard import register_dashboard_tiles
        from fleet.demo import register_demo_step, register_scale_step

        register_dashboard_tiles(asset_tiles)
        register_demo_step("assets", seed_assets, order=20)
        register_scale_step("catalogue", generate_catalogue, order=20)
        register_scale_step("sites", generate_sites, order=30)
        register_scale_step("assets", generate_assets, order=40)
