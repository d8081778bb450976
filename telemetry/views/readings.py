"""Portal pages of telemetry: an asset's readings (list, CSV, invalidation) and its panel on the asset page."""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.views import View

from assets.selectors import asset_list
from fleet.charts import bar_chart_svg, line_chart_svg
from fleet.dashboard import Tile
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin
from telemetry import readings
from telemetry.choices import Meter, ReadingSource, Supply
from telemetry.usage import time_zone

PANEL_ORDER = 30
SUPPLY_COLOURS = {
    Supply.TONER_BLACK: "#1f2933",
    Supply.TONER_CYAN: "#0891b2",
    Supply.TONER_MAGENTA: "#c026d3",
    Supply.TONER_YELLOW: "#ca8a04",
    Supply.DRUM: "#6b7280",
    Supply.WASTE_TONER: "#92400e",
    Supply.BATTERY_SOC: "#15803d",
}
METER_LABELS = dict(Meter.choices)
FRACTIONAL_METERS = (Meter.HOURS_KEY_ON, Meter.HOURS_TRAVEL, Meter.HOURS_LIFT, Meter.ENERGY_KWH)
SUPPLY_LABELS = dict(Supply.choices)

READING_COLUMNS = (
    Column("taken_at", _("Taken at"), "taken_at", sort="taken_at"),
    Column("meter", _("Meter"), "meter", sort="meter", choices=dict(Meter.choices)),
    Column("value", _("Value"), "value", sort="value"),
    Column("source", _("Source"), "source", sort="source", choices=dict(ReadingSource.choices)),
    Column("received_at", _("Received at"), "received_at", sort="received_at", phone=False),
    Column("invalidated_at", _("Invalidated at"), "invalidated_at", sort="invalidated_at", phone=False),
    Column("reason", _("Invalidation reason"), "invalidation_reason", phone=False),
)


class AssetReadingFilterSet(readings.ReadingFilterSet):
    """The readings filters of one asset's page: the asset comes from the URL, and the form is always bound, so
    that a page opened without parameters hides invalidated readings too."""

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data if data is not None else QueryDict(), *args, **kwargs)
        self.filters.pop("asset", None)


class AssetReadingListView(FilteredListView):
    """Every reading of one asset: filter by meter, source and days, show invalidated ones, export CSV; roles
    that handle alerts invalidate a bad read from its row."""

    template_name = "telemetry/readings/reading_list.html"
    filterset_class = AssetReadingFilterSet
    columns = READING_COLUMNS
    default_sort = "-taken_at"
    invalidate_template = "telemetry/readings/_invalidate.html"

    def get(self, request, *args, **kwargs):
        self.asset = get_object_or_404(asset_list(user=request.user), pk=kwargs["pk"])
        self.title = _("Readings of %(asset)s") % {"asset": self.asset}
        self.csv_filename = f"readings-{self.asset.pk}"
        self.row_actions_template = self.invalidate_template if self.access.can(readings.INVALIDATE_CAPABILITY) else ""
        return super().get(request, *args, **kwargs)

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and not self.request.headers.get("HX-Boosted"):
            return ["portal/list.html#results"]
        return [self.template_name]

    def get_queryset(self):
        return readings.asset_readings(user=self.request.user, asset=self.asset)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["asset"] = self.asset
        context["reason_max_length"] = readings.REASON_MAX_LENGTH
        return context


class ReadingInvalidateForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=readings.REASON_MAX_LENGTH)


class ReadingInvalidateView(PortalMixin, View):
    """Invalidate one reading (POST ``reason``); back to the asset's readings with the outcome."""

    required_capability = readings.INVALIDATE_CAPABILITY

    def post(self, request, pk: int):
        reading = get_object_or_404(readings.reading_list(user=request.user), pk=pk)
        form = ReadingInvalidateForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
        else:
            try:
                readings.reading_invalidate(reading=reading, reason=form.cleaned_data["reason"], by=request.user)
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(request, _("The reading was invalidated; usage no longer counts it."))
        return redirect("telemetry:asset_readings", pk=reading.asset_id)


# --- The asset page's panel -------------------------------------------------------------------------------------


def _plain(value: Decimal) -> Decimal:
    """A counter as pages show it: whole numbers without decimals (1500, not 1500.000)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _bar_value(meter: str, value: Decimal) -> int | Decimal:
    """A month's usage as its bar shows it: whole units of counted meters (pages, picks, cycles; interpolation
    gives fractions), tenths of hours and kWh."""
    if meter in FRACTIONAL_METERS:
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _monthly_chart(monthly: readings.MonthlyUsage, tz) -> tuple[str, bool]:
    """One meter's bars, labelled with the month's short name (12 months never repeat one); a month whose counter
    was estimated carries a star."""
    bars, estimated = [], False
    for start, usage in monthly.months:
        label = formats.date_format(timezone.localtime(start, timezone=tz), "M")
        if usage is not None and (usage.start_estimated or usage.end_estimated):
            label, estimated = f"{label}*", True
        bars.append((label, _bar_value(monthly.meter, usage.usage) if usage is not None else 0))
    return bar_chart_svg(
        bars,
        orientation="vertical",
        title=str(METER_LABELS.get(monthly.meter, monthly.meter)),
        height=200,
        empty_text=str(_("No readings.")),
    ), estimated


def _supply_chart(history: dict, since: datetime.date, days: int) -> str:
    series = [
        (str(SUPPLY_LABELS.get(supply, supply)), [((day - since).days, lowest) for day, lowest in points])
        for supply, points in history.items()
    ]
    ticks = [
        (offset, formats.date_format(since + datetime.timedelta(days=offset), "MONTH_DAY_FORMAT"))
        for offset in range(0, days, 30)  # the last day is the plot's right edge: no room for its label
    ]
    colours = [SUPPLY_COLOURS.get(supply, "#2f5d8a") for supply in history] or ["#2f5d8a"]
    return line_chart_svg(
        series,
        x_max=days,
        x_ticks=ticks,
        y_max=100,
        title=str(_("Supply levels (lowest of each day)")),
        value_axis_label="%",
        colours=colours,
        empty_text=str(_("No supply levels in the last %(days)d days.") % {"days": days}),
    )


def asset_panel(*, user, obj) -> list[Tile]:
    """The telemetry block of the asset page, in six queries: latest counters, 12 months of usage per meter,
    90 days of supply levels, the last diagnostic events and a link to every reading."""
    if access_for(user) is None:
        return []
    now = timezone.now()
    tz = time_zone(obj.customer.time_zone)
    latest = readings.asset_latest_readings(user=user, asset=obj)
    monthly = readings.asset_monthly_usage(asset=obj, meters=[reading.meter for reading in latest], now=now)
    charts = [_monthly_chart(usage, tz) for usage in monthly]
    since = timezone.localtime(now, timezone=tz).date() - datetime.timedelta(days=readings.SUPPLY_DAYS)
    supplies = readings.asset_supply_history(
        user=user, asset=obj, since=datetime.datetime.combine(since, datetime.time.min, tzinfo=tz), tz=tz
    )
    events = readings.asset_recent_events(user=user, asset=obj)
    context = {
        "asset": obj,
        "latest": [(METER_LABELS.get(r.meter, r.meter), _plain(r.value), r) for r in latest],
        "usage_charts": [chart for chart, _estimated in charts],
        "usage_estimated": any(estimated for _chart, estimated in charts),
        "supply_chart": _supply_chart(supplies, since, readings.SUPPLY_DAYS),
        "events": events,
        "time_zone": obj.customer.time_zone,
    }
    return [Tile("telemetry/_asset_panel.html", context, order=PANEL_ORDER)]


urlpatterns = [
    path("assets/<int:pk>/readings/", AssetReadingListView.as_view(), name="asset_readings"),
    path("readings/<int:pk>/invalidate/", ReadingInvalidateView.as_view(), name="reading_invalidate"),
]
