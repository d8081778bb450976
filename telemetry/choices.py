"""Choices of telemetry: meters, supplies, sources, event severities, alert rules and alert states."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Meter(models.TextChoices):
    """Cumulative counters. Usage over a period is the difference of the counter at its two ends."""

    TOTAL_PAGES = "total_pages", _("Total pages")
    MONO_PAGES = "mono_pages", _("Mono pages")
    COLOUR_PAGES = "colour_pages", _("Colour pages")
    SCAN_PAGES = "scan_pages", _("Scanned pages")
    HOURS_KEY_ON = "hours_key_on", _("Key-on hours")
    HOURS_TRAVEL = "hours_travel", _("Travel hours")
    HOURS_LIFT = "hours_lift", _("Lift hours")
    PICKS = "picks", _("Picks")
    LIFT_CYCLES = "lift_cycles", _("Lift cycles")
    ENERGY_KWH = "energy_kwh", _("Energy (kWh)")


class Supply(models.TextChoices):
    """Supply levels, in percent of capacity."""

    TONER_BLACK = "toner_black", _("Black toner")
    TONER_CYAN = "toner_cyan", _("Cyan toner")
    TONER_MAGENTA = "toner_magenta", _("Magenta toner")
    TONER_YELLOW = "toner_yellow", _("Yellow toner")
    DRUM = "drum", _("Drum")
    WASTE_TONER = "waste_toner", _("Waste toner")
    BATTERY_SOC = "battery_soc", _("Battery state of charge")


class ReadingSource(models.TextChoices):
    """Who took a reading. A manual read (technician or customer) wins over a device read at a boundary."""

    DEVICE = "device", _("Device")
    TECHNICIAN = "technician", _("Technician")
    CUSTOMER = "customer", _("Customer")


MANUAL_SOURCES = (ReadingSource.TECHNICIAN, ReadingSource.CUSTOMER)


class Severity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")
    CRITICAL = "critical", _("Critical")


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


class AlertRuleKind(models.TextChoices):
    EVENT_CODE = "event_code", _("Event code matches")
    SUPPLY_BELOW = "supply_below", _("Supply below threshold")
    METER_ABOVE = "meter_above", _("Meter past threshold")
    IMPACT_ABOVE = "impact_above", _("Impact above g-force")
    SILENT = "silent", _("Silent device")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


ALERT_ACTIVE_STATES = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
# Alerts of these severities ask for a work order automatically (telemetry.hooks.request_work_order).
ALERT_WORK_ORDER_SEVERITIES = (Severity.ERROR, Severity.CRITICAL)
