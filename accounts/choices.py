"""Choices of the accounts app: organisation kinds and the roles of DESIGN.md §3."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganisationKind(models.TextChoices):
    PROVIDER = "provider", _("Provider")
    CUSTOMER = "customer", _("Customer")


class Role(models.TextChoices):
    PROVIDER_ADMIN = "provider_admin", _("Provider admin")
    SERVICE_DESK = "service_desk", _("Service desk")
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    TECHNICIAN = "technician", _("Technician")
    CUSTOMER_ADMIN = "customer_admin", _("Customer admin")
    CUSTOMER_VIEWER = "customer_viewer", _("Customer viewer")
    CUSTOMER_OPERATOR = "customer_operator", _("Customer operator")


PROVIDER_ROLES = (Role.PROVIDER_ADMIN, Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.TECHNICIAN)
CUSTOMER_ROLES = (Role.CUSTOMER_ADMIN, Role.CUSTOMER_VIEWER, Role.CUSTOMER_OPERATOR)
ROLES_BY_KIND = {OrganisationKind.PROVIDER: PROVIDER_ROLES, OrganisationKind.CUSTOMER: CUSTOMER_ROLES}

TIME_ZONE_CHOICES = [
    ("Asia/Tokyo", "Asia/Tokyo"),
    ("UTC", "UTC"),
    ("Europe/London", "Europe/London"),
    ("Europe/Berlin", "Europe/Berlin"),
    ("Europe/Paris", "Europe/Paris"),
    ("America/New_York", "America/New_York"),
    ("America/Chicago", "America/Chicago"),
    ("America/Los_Angeles", "America/Los_Angeles"),
    ("Asia/Singapore", "Asia/Singapore"),
    ("Asia/Shanghai", "Asia/Shanghai"),
    ("Australia/Sydney", "Australia/Sydney"),
]

LANGUAGE_CHOICES = [("en", "English"), ("ja", "日本語")]
