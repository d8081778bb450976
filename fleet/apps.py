"""App configuration of the project's shared pieces (templates tags, PDF helper, list base)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FleetConfig(AppConfig):
    name = "fleet"
    verbose_name = _("Fleet portal")
