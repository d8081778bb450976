"""Portal pages of replacement forecasts: the upcoming replacements list (30/60/90 days, CSV), the asset panel
with each forecast's basis and a chart per consumable, and the dashboard tile of needs in the next 14 days."""

import datetime

import django_filters
from django.http import QueryDict
from django.urls import path
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import Organisation
from assets.models import Asset, PartType, Site
from fleet.charts import line_chart_svg
from fleet.dashboard import Tile
from fleet.filters import SearchFilterSet
from fleet.tables import Column
from fleet.tenancy import access_for, visible
from fleet.views import FilteredListView
from maintenance import replacements
from maintenance.choices import ForecastKind, ForecastMethod
from maintenance.models import ReplacementForecast
from telemetry.choices import Supply
from telemetry.models import SupplyLevel
from telemetry.usage import time_zone

PANEL_ORDER = 55
TILE_ORDER = 17
TILE_ROLES = (Role.PROVIDER_ADMIN, Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.CUSTOMER_ADMIN)
HORIZON_LABELS = {30: _("Next 30 days"), 60: _("Next 60 days"), 90: _("Next 90 days")}
SUPPLY_COLOURS = {
    Supply.TONER_BLACK: "#333333",
    Supply.TONER_CYAN: "#0e7490",
    Supply.TONER_MAGENTA: "#a21caf",
    Supply.TONER_YELLOW: "#b45309",
}
PROJECTION_COLOURS = ("#2f5d8a", "#c2410c", "#9ca3af")

_visible_customers = visible(Organisation.objects.customers())
_visible_sites = visible(Site.objects.all())


def _part_types(request):
    return PartType.objects.order_by("name") if request is not None else PartType.objects.none()


class ReplacementForecastFilterSet(SearchFilterSet):
    """Upcoming replacements: a horizon of 30, 60 or 90 days (30 when not given), customer, site, kind, part
    type and method; shared by the page and the API."""

    search_fields = (
        "asset__serial_number",
        "asset__asset_tag",
        "asset__site__name",
        "part_type__name",
        "part_type__code",
    )
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer",)
    horizon = django_filters.ChoiceFilter(
        choices=[(str(days), label) for days, label in HORIZON_LABELS.items()],
        method="filter_horizon",
        label=_("Horizon"),
        empty_label=None,
    )
    customer = django_filters.ModelChoiceFilter(
        field_name="asset__customer", queryset=_visible_customers, label=_("Customer")
    )
    site = django_filters.ModelChoiceFilter(field_name="asset__site", queryset=_visible_sites, label=_("Site"))
    kind = django_filters.ChoiceFilter(choices=ForecastKind.choices, label=_("Kind"))
    part_type = django_filters.ModelChoiceFilter(queryset=_part_types, label=_("Part type"))
    method = django_filters.ChoiceFilter(choices=ForecastMethod.choices, label=_("Method"))

    class Meta:
        model = ReplacementForecast
        fields = ["horizon", "customer", "site", "kind", "part_type", "method"]

    def __init__(self, data=None, *args, **kwargs):
        # The horizon always applies: 30 days unless another is chosen, so an unfiltered page is bounded too.
        data = data.copy() if data is not None else QueryDict(mutable=True)
        if not data.get("horizon"):
            data["horizon"] = str(replacements.DEFAULT_HORIZON)
        super().__init__(data, *args, **kwargs)

    def filter_horizon(self, queryset, name, value):
        return replacements.within_horizon(queryset, today=timezone.localdate(), days=int(value))


REPLACEMENT_COLUMNS = (
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("customer", _("Customer"), "asset__customer__name", sort="asset__customer__name", provider_only=True),
    Column("site", _("Site"), "asset__site__name", sort="asset__site__name", phone=False),
    Column("part", _("Part"), "part_type__name", sort="part_type__name"),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(ForecastKind.choices), phone=False),
    Column("level", _("Level (%)"), "level_percent", sort="level_percent", phone=False),
    Column("life_used", _("Life used (%)"), "life_used_percent", sort="life_used_percent", phone=False),
    Column("predicted", _("Predicted"), "predicted_on", sort="predicted_on"),
    Column("earliest", _("Earliest (P10)"), "earliest_on", sort="earliest_on", phone=False),
    Column("latest", _("Latest (P90)"), "latest_on", sort="latest_on", phone=False),
    Column("act_by", _("Ship or replace by"), "act_by", sort="act_by"),
    Column("method", _("Method"), "method", sort="method", choices=dict(ForecastMethod.choices), phone=False),
    Column("data_points", _("Data points"), "data_points", sort="data_points", phone=False),
    Column("replacements_used", _("Replacements observed"), "replacements_used", html=False),
    Column("rate", _("Use per day"), "rate_per_day", html=False),
    Column("life_used_units", _("Life used"), "life_used", html=False),
    Column("rated_life", _("Life expected"), "rated_life", html=False),
    Column("action", _("Open order"), "action_number", html=False),
)


class ReplacementListView(FilteredListView):
    """What will be shipped or replaced when: forecasts to act on, or running out, within the horizon."""

    selector = staticmethod(replacements.replacement_forecast_list)
    filterset_class = ReplacementForecastFilterSet
    columns = REPLACEMENT_COLUMNS
    default_sort = "act_by"
    title = _("Upcoming replacements")
    csv_filename = "upcoming-replacements"
    row_actions_template = "maintenance/replacements/_row_actions.html"


# --- Asset panel -----------------------------------------------------------------------------------------------


def _days(instant: datetime.datetime, start: datetime.datetime) -> float:
    return max((instant - start).total_seconds() / 86400, 0.0)


def _consumable_chart(forecast: ReplacementForecast, levels: list[tuple[datetime.datetime, float]], tz) -> str:
    """The segment's levels (the last of each day), the projected line to empty (P50) and the P10-P90 wedge."""
    start = forecast.segment_started_at
    daily: dict[int, tuple[float, float]] = {}
    for taken_at, percent in levels:
        x = _days(taken_at, start)
        daily[int(x)] = (x, percent)
    points = sorted(daily.values())

    def at(day: datetime.date) -> float:
        return _days(datetime.datetime.combine(day, datetime.time(12), tzinfo=tz), start)

    now_x = _days(forecast.computed_at, start)
    level = float(forecast.level_percent) if forecast.level_percent is not None else (points[-1][1] if points else 0)
    x_max = max(at(forecast.latest_on), now_x, 1.0)
    series = [
        (str(_("Level")), points),
        (str(_("Projected to empty")), [(now_x, level), (at(forecast.predicted_on), 0)]),
        (str(_("Range (P10–P90)")), [(at(forecast.earliest_on), 0), (now_x, level), (at(forecast.latest_on), 0)]),
    ]
    ticks = [
        (at(day), formats.date_format(day, "MONTH_DAY_FORMAT"))
        for day in sorted({start.astimezone(tz).date(), forecast.predicted_on})
        if at(day) <= x_max
    ]
    colours = (SUPPLY_COLOURS.get(forecast.supply, PROJECTION_COLOURS[0]), *PROJECTION_COLOURS[1:])
    return line_chart_svg(
        series,
        x_max=x_max,
        x_ticks=ticks,
        y_max=100,
        title=f"{forecast.part_type.name}",
        value_axis_label="%",
        width=480,
        height=180,
        colours=colours,
        empty_text=str(_("No levels since the last refill.")),
    )


def asset_forecasts_panel(*, user, obj: Asset) -> list[Tile]:
    """On an asset page: each forecast with its basis and dates, and a chart per consumable (two queries)."""
    if access_for(user) is None:
        return []
    forecasts = list(
        replacements.replacement_forecast_list(user=user).filter(asset_id=obj.pk).order_by("act_by", "part_type__name")
    )
    if not forecasts:
        return []
    charted = [f for f in forecasts if f.kind == ForecastKind.CONSUMABLE and f.supply and f.segment_started_at]
    levels: dict[str, list[tuple[datetime.datetime, float]]] = {}
    if charted:
        rows = (
            SupplyLevel.objects.visible_to(user)
            .filter(
                asset_id=obj.pk,
                supply__in={f.supply for f in charted},
                taken_at__gte=min(f.segment_started_at for f in charted),
                taken_at__lte=max(f.computed_at for f in charted),
            )
            .order_by("taken_at")
            .values_list("supply", "taken_at", "percent")
        )
        for supply, taken_at, percent in rows:
            levels.setdefault(supply, []).append((taken_at, float(percent)))
    tz = time_zone(obj.customer.time_zone)
    items = []
    for forecast in forecasts:
        chart = ""
        if forecast in charted:
            own = [
                (taken_at, percent)
                for taken_at, percent in levels.get(forecast.supply, [])
                if forecast.segment_started_at <= taken_at <= forecast.computed_at
            ]
            chart = _consumable_chart(forecast, own, tz)
        items.append({"forecast": forecast, "basis": replacements.forecast_basis(forecast), "chart": chart})
    return [Tile("maintenance/replacements/_asset_panel.html", {"asset": obj, "items": items}, order=PANEL_ORDER)]


# --- Dashboard tile ----------------------------------------------------------------------------------------------


def replacement_tiles(*, user) -> list[Tile]:
    """Needs to act on within 14 days (shipments and replacements, overdue ones among them), for provider staff
    (not technicians) and customer admins."""
    access = access_for(user)
    if access is None or access.role not in TILE_ROLES:
        return []
    counts = replacements.replacement_due_counts(user=user, today=timezone.localdate())
    return [
        Tile("maintenance/replacements/_dashboard_tile.html", {**counts, "days": replacements.TILE_DAYS}, TILE_ORDER)
    ]


urlpatterns = [
    path("replacements/", ReplacementListView.as_view(), name="replacement_list"),
]
