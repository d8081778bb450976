"""API: service levels and business calendars (provider admins write, others read what they see), and the SLA
fields of the work-order serializer."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from accounts.models import Organisation
from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import visible
from maintenance import sla
from maintenance.choices import SlaState
from maintenance.models import BusinessCalendar, BusinessClosure, BusinessHours, ServiceLevel

_visible_customers = visible(Organisation.objects.customers())


def _visible_calendars(user):
    if user is None:
        return BusinessCalendar.objects.none()
    return sla.business_calendar_list(user=user)


class WorkOrderSlaFields(serializers.Serializer):
    """``sla_state`` and ``time_left_seconds`` of a work order (negative once its next deadline has passed)."""

    sla_state = serializers.SerializerMethodField()
    time_left_seconds = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=SlaState.choices))
    def get_sla_state(self, obj) -> str:
        return sla.sla_state_of(obj, now=timezone.now())

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_time_left_seconds(self, obj) -> int | None:
        left = sla.time_left(obj, now=timezone.now())
        return None if left is None else int(left.total_seconds())


# --- Service levels -----------------------------------------------------------------------------------------------

HOURS_FIELDS = [name for name in sla.SERVICE_LEVEL_FIELDS if "_hours_" in name]


class ServiceLevelSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True, allow_null=True, default=None)
    calendar_name = serializers.CharField(source="calendar.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ServiceLevel
        fields = [
            "id",
            "name",
            "customer",
            "customer_name",
            *HOURS_FIELDS,
            "uptime_target_percent",
            "business_hours_only",
            "calendar",
            "calendar_name",
            "at_risk_percent",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ServiceLevelWriteSerializer(serializers.ModelSerializer):
    """Input of ``service_level_create`` and ``service_level_update``; the database rules come back as field
    messages from the service."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers, required=False, allow_null=True)
    calendar = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_calendars, required=False, allow_null=True)
    at_risk_percent = serializers.IntegerField(min_value=1, max_value=100, required=False)

    class Meta:
        model = ServiceLevel
        fields = [name for name in sla.SERVICE_LEVEL_FIELDS]
        # The services check the combined rules (one default, one per customer, resolution after response).
        validators: list = []


class ServiceLevelViewSet(
    TenantViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """The provider's default service level and its customers' (provider admins create and change them)."""

    queryset = ServiceLevel.objects.none()
    selector = staticmethod(sla.service_level_list)
    serializer_class = ServiceLevelSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["name", "customer__name", "created_at"]
    ordering = ["name", "id"]
    write_capabilities = {
        "create": Capability.MANAGE_CUSTOMERS,
        "partial_update": Capability.MANAGE_CUSTOMERS,
    }

    def get_serializer_class(self):
        return ServiceLevelWriteSerializer if self.action in self.write_capabilities else ServiceLevelSerializer

    def _read(self, level: ServiceLevel, code: int = status.HTTP_200_OK) -> Response:
        return Response(ServiceLevelSerializer(self.get_queryset().get(pk=level.pk)).data, status=code)

    @extend_schema(request=ServiceLevelWriteSerializer, responses={201: ServiceLevelSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        level = sla.service_level_create(by=request.user, **serializer.validated_data)
        return self._read(level, status.HTTP_201_CREATED)

    @extend_schema(request=ServiceLevelWriteSerializer, responses={200: ServiceLevelSerializer})
    def partial_update(self, request, *args, **kwargs):
        level = self.get_object()
        serializer = self.get_serializer(level, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        sla.service_level_update(service_level=level, by=request.user, **serializer.validated_data)
        return self._read(level)


# --- Business calendars -------------------------------------------------------------------------------------------


class BusinessHoursSerializer(serializers.ModelSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday … 6 = Sunday")

    class Meta:
        model = BusinessHours
        fields = ["weekday", "opens", "closes"]

    def validate(self, attrs):
        if attrs["opens"] >= attrs["closes"]:
            raise serializers.ValidationError({"closes": sla.HOURS_REVERSED})
        return attrs


class BusinessClosureSerializer(serializers.ModelSerializer):
    class Meta:
        model = BusinessClosure
        fields = ["date", "name"]
        validators: list = []


class BusinessCalendarSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True, allow_null=True, default=None)
    hours = BusinessHoursSerializer(many=True, read_only=True)
    closures = BusinessClosureSerializer(many=True, read_only=True)

    class Meta:
        model = BusinessCalendar
        fields = [
            "id",
            "name",
            "customer",
            "customer_name",
            "holiday_country",
            "hours",
            "closures",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _flat_messages(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        return [
            message
            for key, value in detail.items()
            for message in _flat_messages(value, f"{prefix}{int(key) + 1 if isinstance(key, int) else key}: ")
        ]
    if isinstance(detail, list):
        return [message for item in detail for message in _flat_messages(item, prefix)]
    return [f"{prefix}{detail}"]


class RowsField(serializers.ListField):
    """A list of rows whose errors are flat messages ("2: closes: …"), the shape of the API's error responses."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError(_flat_messages(error.detail)) from None


class BusinessCalendarWriteSerializer(serializers.Serializer):
    """Input of ``business_calendar_save``: ``hours`` and ``closures``, when given, replace the calendar's."""

    name = serializers.CharField(max_length=100)
    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers, required=False, allow_null=True)
    holiday_country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    hours = RowsField(child=BusinessHoursSerializer(), required=False)
    closures = RowsField(child=BusinessClosureSerializer(), required=False)


class BusinessCalendarViewSet(
    TenantViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Business calendars with their opening hours and closures, written together in one transaction."""

    queryset = BusinessCalendar.objects.none()
    selector = staticmethod(sla.business_calendar_list)
    serializer_class = BusinessCalendarSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]
    write_capabilities = {
        "create": Capability.MANAGE_CUSTOMERS,
        "partial_update": Capability.MANAGE_CUSTOMERS,
    }

    def get_serializer_class(self):
        if self.action in self.write_capabilities:
            return BusinessCalendarWriteSerializer
        return BusinessCalendarSerializer

    def _read(self, calendar: BusinessCalendar, code: int = status.HTTP_200_OK) -> Response:
        return Response(BusinessCalendarSerializer(self.get_queryset().get(pk=calendar.pk)).data, status=code)

    @extend_schema(request=BusinessCalendarWriteSerializer, responses={201: BusinessCalendarSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        calendar = sla.business_calendar_save(by=request.user, **serializer.validated_data)
        return self._read(calendar, status.HTTP_201_CREATED)

    @extend_schema(request=BusinessCalendarWriteSerializer, responses={200: BusinessCalendarSerializer})
    def partial_update(self, request, *args, **kwargs):
        calendar = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {
            "name": calendar.name,
            "customer": calendar.customer,
            "holiday_country": calendar.holiday_country,
            **serializer.validated_data,
        }
        sla.business_calendar_save(calendar=calendar, by=request.user, **data)
        return self._read(calendar)


router = SimpleRouter()
router.register("service-levels", ServiceLevelViewSet, basename="servicelevel")
router.register("business-calendars", BusinessCalendarViewSet, basename="businesscalendar")
urlpatterns = router.urls
