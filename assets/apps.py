"""App configuration of assets."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssetsConfig(AppConfig):
    name = "assets"
    verbose_name = _("Assets")

    def ready(self) -> None:
        from assets.dashboard import asset_tiles
        from fleet.dashboard import register_dashboard_tiles

        register_dashboard_tiles(asset_tiles)
