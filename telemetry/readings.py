"""The meter and supply history of assets: invalidating a bad read, and the reads that pages, API and panels share.

Who may invalidate: roles with ``Capability.HANDLE_ALERTS`` (provider admins and the service desk). A bad read
is a telemetry-quality problem the service desk meets while handling the alerts it raised (a spike past a
meter threshold, a counter that jumped); ``MANAGE_ASSETS`` would leave the service desk out. Customers may
not: a read removed by the customer would lower their own bill. Invalidation keeps the row (the ledger is
append-only) with who, when and why; the usage service then ignores it. A period already invoiced keeps its
frozen counters, so an invalidation there trues up the next period instead of changing the invoice.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.roles import Capability
from assets.models import Asset
from fleet.filters import SearchFilterSet
from fleet.tenancy import access_for, visible
from telemetry.choices import Meter, ReadingSource, Supply
from telemetry.models import MANUAL_FIRST, DiagnosticEvent, Reading, SupplyLevel
from telemetry.usage import Usage, month_starts, time_zone, usage_series

INVALIDATE_CAPABILITY = Capability.HANDLE_ALERTS
REASON_MAX_LENGTH = Reading._meta.get_field("invalidation_reason").max_length

NOT_ALLOWED = _("You may not invalidate readings.")
REASON_REQUIRED = _("Say why the reading is invalid.")
REASON_TOO_LONG = _("Keep the reason to %(limit)d characters.")
ALREADY_INVALIDATED = _("This reading was already invalidated.")

RECENT_EVENTS = 10
USAGE_MONTHS = 12
SUPPLY_DAYS = 90
# Filter dates outside these years are clamped: they select nothing more, and cannot overflow a time zone.
FILTER_MIN_DATE = datetime.date(1970, 1, 1)
FILTER_MAX_DATE = datetime.date(9000, 12, 31)


# --- Services ---------------------------------------------------------------------------------------------------


@transaction.atomic
def reading_invalidate(*, reading: Reading, reason: str, by: User | None) -> Reading:
    """Mark a bad read invalid (kept, never deleted); ``by=None`` is a system caller.

    The row is locked while it is checked, so two people invalidating the same read at once cannot both do it.
    """
    if by is not None:
        access = access_for(by)
        if access is None or not access.can(INVALIDATE_CAPABILITY):
            raise ValidationError(NOT_ALLOWED)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": REASON_REQUIRED})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": ValidationError(REASON_TOO_LONG, params={"limit": REASON_MAX_LENGTH})})
    locked = Reading.objects.select_for_update().get(pk=reading.pk)
    if locked.invalidated_at is not None:
        raise ValidationError(ALREADY_INVALIDATED)
    locked.invalidated_at = timezone.now()
    locked.invalidated_by = by
    locked.invalidation_reason = reason
    locked.save(update_fields=["invalidated_at", "invalidated_by", "invalidation_reason"])
    reading.invalidated_at = locked.invalidated_at
    reading.invalidated_by = by
    reading.invalidation_reason = reason
    return reading


# --- Selectors --------------------------------------------------------------------------------------------------


def reading_list(*, user: User) -> QuerySet[Reading]:
    """Readings of the assets the user may see (valid and invalidated; filters narrow them)."""
    return Reading.objects.visible_to(user)


def asset_readings(*, user: User, asset: Asset) -> QuerySet[Reading]:
    """The readings of one asset, as far as the user may see them."""
    return reading_list(user=user).filter(asset=asset)


def asset_latest_readings(*, user: User, asset: Asset) -> list[Reading]:
    """The latest valid reading of each meter of the asset, in the order of ``Meter`` (one query).

    Each meter's latest is an indexed ``LIMIT 1`` subquery; at one instant a manual read wins.
    """
    valid = Reading.objects.visible_to(user).filter(asset=asset, invalidated_at__isnull=True)
    latest = Q()
    for meter in Meter.values:
        newest = valid.filter(meter=meter).order_by("-taken_at", MANUAL_FIRST).values("pk")[:1]
        latest |= Q(pk=newest)
    readings = {reading.meter: reading for reading in valid.filter(latest)}
    return [readings[meter] for meter in Meter.values if meter in readings]


def asset_supply_history(
    *, user: User, asset: Asset, since: datetime.datetime, tz: datetime.tzinfo
) -> dict[str, list[tuple[datetime.date, Decimal]]]:
    """Each supply's lowest level per day (in ``tz``) since ``since``: at most one row per supply and day."""
    rows = (
        SupplyLevel.objects.visible_to(user)
        .filter(asset=asset, taken_at__gte=since)
        .annotate(day=TruncDate("taken_at", tzinfo=tz))
        .values_list("supply", "day")
        .annotate(lowest=Min("percent"))
        .order_by("supply", "day")
    )
    history: dict[str, list[tuple[datetime.date, Decimal]]] = {}
    for supply, day, lowest in rows:
        history.setdefault(supply, []).append((day, lowest))
    return {supply: history[supply] for supply in Supply.values if supply in history}


def asset_recent_events(*, user: User, asset: Asset, limit: int = RECENT_EVENTS) -> list[DiagnosticEvent]:
    """The asset's latest diagnostic events, newest first."""
    return list(DiagnosticEvent.objects.visible_to(user).filter(asset=asset).order_by("-occurred_at", "-id")[:limit])


@dataclass(frozen=True)
class MonthlyUsage:
    """One meter's usage by calendar month in the customer's time zone (``None``: no data that month)."""

    meter: str
    months: list[tuple[datetime.datetime, Usage | None]]


def asset_monthly_usage(
    *, asset: Asset, meters: list[str], months: int = USAGE_MONTHS, now: datetime.datetime | None = None
) -> list[MonthlyUsage]:
    """The last ``months`` calendar months (the current one up to now) per meter, in two or three queries."""
    if not meters:
        return []
    now = now or timezone.now()
    tz_name = asset.customer.time_zone
    local_now = timezone.localtime(now, timezone=time_zone(tz_name))
    year, month = local_now.year, local_now.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    starts = month_starts(year=year, month=month, count=months, tz_name=tz_name)
    end = max(now, starts[-1] + datetime.timedelta(microseconds=1))  # the current month so far
    series = usage_series(asset_ids=[asset.pk], meters=meters, boundaries=[*starts, end], now=now)
    return [
        MonthlyUsage(meter=meter, months=list(zip(starts, series.get((asset.pk, meter), [None] * months), strict=True)))
        for meter in meters
    ]


# --- Filters ----------------------------------------------------------------------------------------------------


_visible_assets = visible(Asset.objects.all())


def _day_start(value: datetime.date, *, days_later: int = 0) -> datetime.datetime:
    """Midnight of ``value`` (plus ``days_later``) in the current time zone; far dates are clamped first."""
    value = min(max(value, FILTER_MIN_DATE), FILTER_MAX_DATE) + datetime.timedelta(days=days_later)
    return timezone.make_aware(datetime.datetime.combine(value, datetime.time.min))


class ReadingFilterSet(SearchFilterSet):
    """Readings by asset, meter, source and day (in the portal's time zone); invalidated ones on request."""

    search_fields = ("invalidation_reason",)
    asset = django_filters.ModelChoiceFilter(queryset=_visible_assets, label=_("Asset"))
    meter = django_filters.ChoiceFilter(choices=Meter.choices, label=_("Meter"))
    source = django_filters.ChoiceFilter(choices=ReadingSource.choices, label=_("Source"))
    taken_after = django_filters.DateFilter(
        method="filter_taken_after", label=_("Taken from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    taken_before = django_filters.DateFilter(
        method="filter_taken_before", label=_("Taken until"), widget=forms.DateInput(attrs={"type": "date"})
    )
    show_invalidated = django_filters.BooleanFilter(
        method="filter_show_invalidated", label=_("Show invalidated readings"), widget=forms.CheckboxInput()
    )

    class Meta:
        model = Reading
        fields = ["asset", "meter", "source", "taken_after", "taken_before", "show_invalidated"]

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("show_invalidated"):
            queryset = queryset.filter(invalidated_at__isnull=True)
        return queryset

    def filter_taken_after(self, queryset, name, value):
        return queryset.filter(taken_at__gte=_day_start(value))

    def filter_taken_before(self, queryset, name, value):
        return queryset.filter(taken_at__lt=_day_start(value, days_later=1))

    def filter_show_invalidated(self, queryset, name, value):
        return queryset  # applied in ``filter_queryset``: invalidated readings are hidden unless asked for
