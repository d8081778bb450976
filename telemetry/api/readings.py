"""API of telemetry: readings (scoped list and detail, invalidation) and the usage of one asset's meter.

``GET /api/v1/readings/`` pages by cursor (newest first): the ledger is too large to count on every page.
``GET /api/v1/usage/?asset=&meter=&start=&end=`` answers the usage service's figures for one visible asset
(404 for any other id), or ``has_data: false`` when there is no reading to take a counter from.
"""

import dataclasses
import datetime

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from assets.models import Asset
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for
from telemetry import readings
from telemetry.choices import Meter
from telemetry.models import COUNTER_DECIMAL_PLACES, COUNTER_MAX_DIGITS, Reading
from telemetry.usage import COUNTER_SOURCE_CHOICES, usage_for_period

MAX_ID = 2**63 - 1
# Usage periods must lie within these instants: far enough for any ledger, and no date arithmetic overflows.
EARLIEST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)

PERIOD_NOT_ORDERED = _("The end must be after the start.")
PERIOD_OUT_OF_RANGE = _("Periods must lie between 1970 and 2100.")


# --- Serializers ------------------------------------------------------------------------------------------------


class ReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Reading
        fields = [
            "id",
            "asset",
            "meter",
            "taken_at",
            "value",
            "source",
            "received_at",
            "invalidated_at",
            "invalidation_reason",
        ]
        read_only_fields = fields


class ReadingInvalidateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=readings.REASON_MAX_LENGTH)


class UsageQuerySerializer(serializers.Serializer):
    asset = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text=_("The asset's id."))
    meter = serializers.ChoiceField(choices=Meter.choices)
    start = serializers.DateTimeField(help_text=_("Start of the period (ISO 8601; without an offset: UTC)."))
    end = serializers.DateTimeField(help_text=_("End of the period (ISO 8601; without an offset: UTC)."))

    def validate(self, attrs):
        if not (EARLIEST <= attrs["start"] <= LATEST and EARLIEST <= attrs["end"] <= LATEST):
            raise serializers.ValidationError(PERIOD_OUT_OF_RANGE)
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": [PERIOD_NOT_ORDERED]})
        return attrs


def _counter_field(**kwargs):
    return serializers.DecimalField(
        max_digits=COUNTER_MAX_DIGITS + 4, decimal_places=COUNTER_DECIMAL_PLACES, allow_null=True, **kwargs
    )


class UsageSerializer(serializers.Serializer):
    """The figures of ``telemetry.usage.Usage``; counters and usage are null when ``has_data`` is false."""

    asset = serializers.IntegerField(source="asset_id")
    meter = serializers.ChoiceField(choices=Meter.choices)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    has_data = serializers.BooleanField()
    start_value = _counter_field()
    end_value = _counter_field()
    start_estimated = serializers.BooleanField()
    end_estimated = serializers.BooleanField()
    start_source = serializers.ChoiceField(choices=COUNTER_SOURCE_CHOICES, allow_null=True)
    end_source = serializers.ChoiceField(choices=COUNTER_SOURCE_CHOICES, allow_null=True)
    usage = _counter_field()
    resets = serializers.IntegerField()
    readings_used = serializers.IntegerField()


# --- Views ------------------------------------------------------------------------------------------------------


class ReadingCursorPagination(CursorPagination):
    ordering = ("-taken_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ReadingViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Meter readings of the assets the user may see; invalidated ones with ``show_invalidated=true``."""

    queryset = Reading.objects.none()
    selector = staticmethod(readings.reading_list)
    serializer_class = ReadingSerializer
    filterset_class = readings.ReadingFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = ReadingCursorPagination
    write_capabilities = {"invalidate": readings.INVALIDATE_CAPABILITY}

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset  # a reading's own URL finds it, invalidated or not
        return super().filter_queryset(queryset)

    @extend_schema(request=ReadingInvalidateSerializer, responses={200: ReadingSerializer})
    @action(detail=True, methods=["post"])
    def invalidate(self, request, pk=None):
        reading = self.get_object()
        serializer = ReadingInvalidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        readings.reading_invalidate(reading=reading, reason=serializer.validated_data["reason"], by=request.user)
        return Response(ReadingSerializer(reading).data)


class HasAccess(BasePermission):
    """Any signed-in user with a membership; what they see is scoped by the view."""

    def has_permission(self, request, view) -> bool:
        return access_for(request.user) is not None


class UsageView(APIView):
    """The usage of one meter of one asset over a period (DESIGN.md §4 "Counters")."""

    permission_classes = [HasAccess]
    answers_not_found = True  # an asset the caller may not see (fleet.api.schema declares the 404)

    @extend_schema(parameters=[UsageQuerySerializer], responses={200: UsageSerializer})
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        asset = get_object_or_404(Asset.objects.visible_to(request.user), pk=params["asset"])
        usage = usage_for_period(
            asset=asset, meter=params["meter"], start=params["start"], end=params["end"], now=timezone.now()
        )
        if usage is None:
            data = {
                "asset_id": asset.pk,
                "meter": params["meter"],
                "start": params["start"],
                "end": params["end"],
                "has_data": False,
                "start_value": None,
                "end_value": None,
                "start_estimated": False,
                "end_estimated": False,
                "start_source": None,
                "end_source": None,
                "usage": None,
                "resets": 0,
                "readings_used": 0,
            }
        else:
            data = {**dataclasses.asdict(usage), "has_data": True}
        return Response(UsageSerializer(data).data)


router = SimpleRouter()
router.register("readings", ReadingViewSet, basename="reading")
urlpatterns = [
    *router.urls,
    path("usage/", UsageView.as_view(), name="usage"),
]
