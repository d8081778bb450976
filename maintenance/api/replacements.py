"""API: replacement forecasts, read only (the nightly run writes them), scoped like the portal's list.

``GET /api/v1/replacement-forecasts/`` takes the page's filters (``horizon`` 30/60/90 days, default 30; customer,
site, kind, part type, method, ``q``) and ``asset``; each row carries its basis, its dates and the open order
acting on it."""

import django_filters
from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from fleet.api.views import TenantReadOnlyViewSet
from maintenance import replacements
from maintenance.models import ReplacementForecast
from maintenance.views.replacements import ReplacementForecastFilterSet


class ReplacementForecastSerializer(serializers.ModelSerializer):
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    customer = serializers.IntegerField(source="asset.customer_id", read_only=True)
    site = serializers.IntegerField(source="asset.site_id", read_only=True)
    part_type_name = serializers.CharField(source="part_type.name", read_only=True)
    life_used_percent = serializers.DecimalField(max_digits=8, decimal_places=1, read_only=True, allow_null=True)
    open_work_order = serializers.IntegerField(source="open_work_order_id", read_only=True, allow_null=True)
    open_work_order_number = serializers.CharField(read_only=True, allow_null=True)
    open_supply_order = serializers.IntegerField(source="open_supply_order_id", read_only=True, allow_null=True)
    open_supply_order_number = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = ReplacementForecast
        fields = [
            "id",
            "asset",
            "asset_serial_number",
            "customer",
            "site",
            "part_type",
            "part_type_name",
            "kind",
            "method",
            "supply",
            "meter",
            "segment_started_at",
            "level_percent",
            "rate_per_day",
            "life_used",
            "rated_life",
            "life_used_percent",
            "data_points",
            "replacements_used",
            "predicted_on",
            "earliest_on",
            "latest_on",
            "act_by",
            "computed_at",
            "open_work_order",
            "open_work_order_number",
            "open_supply_order",
            "open_supply_order_number",
        ]
        read_only_fields = fields


class ReplacementForecastApiFilterSet(ReplacementForecastFilterSet):
    asset = django_filters.NumberFilter(field_name="asset_id")

    class Meta(ReplacementForecastFilterSet.Meta):
        fields = [*ReplacementForecastFilterSet.Meta.fields, "asset"]


class ReplacementForecastViewSet(TenantReadOnlyViewSet):
    """Forecasts of the assets the caller sees: to act on, or running out, within the horizon."""

    queryset = ReplacementForecast.objects.none()
    selector = staticmethod(replacements.replacement_forecast_list)
    serializer_class = ReplacementForecastSerializer
    filterset_class = ReplacementForecastApiFilterSet
    ordering_fields = ["act_by", "predicted_on", "earliest_on", "computed_at"]
    ordering = ["act_by", "id"]

    def filter_queryset(self, queryset):
        # The horizon bounds the list only: any forecast the caller sees can be read by its id.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)


router = SimpleRouter()
router.register("replacement-forecasts", ReplacementForecastViewSet, basename="replacementforecast")

urlpatterns = router.urls
