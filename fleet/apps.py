"""App configuration of the project's shared pieces (templates tags, PDF helper, list base)."""

from django.apps import AppConfig


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = "Fleet portal"
