"""API of telemetry: the ingest endpoint for collectors and the collector keys that open it.

``POST /api/v1/telemetry/`` takes a JSON array of up to 10,000 items (readings, supply levels, events) with
``Authorization: Collector <prefix>.<secret>``; the key's customer is the only one it can write. The body is
read and checked in bulk by ``telemetry.ingest`` (no serializer per item): the serializers below only describe
the items in the OpenAPI schema. ``/api/v1/collector-keys/`` lists, creates and revokes keys.
"""

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from accounts.models import Organisation
from accounts.roles import Capability
from assets.api.serializers import ScopedPrimaryKeyRelatedField
from fleet.api.schema import FleetAutoSchema
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import visible
from telemetry.choices import Meter, Severity, Supply
from telemetry.ingest import (
    BODY_TOO_MANY,
    collector_ingest,
    idempotency_key_check,
    ingest_body_parse,
)
from telemetry.keys import (
    AUTH_KEYWORD,
    CollectorKeyFilterSet,
    collector_key_authenticate,
    collector_key_create,
    collector_key_list,
    collector_key_revoke,
)
from telemetry.models import CollectorKey

SECURITY_SCHEME = "collectorKey"
ONLY_COLLECTORS = _("Only a collector key can send telemetry (Authorization: Collector <prefix>.<secret>).")
CUSTOMER_REQUIRED = _("Choose the customer the key writes for.")

# -- Authentication -------------------------------------------------------------------------------------------------


class CollectorKeyAuthentication(BaseAuthentication):
    """``Authorization: Collector <prefix>.<secret>``: the request acts for the key's customer, as no user."""

    keyword = AUTH_KEYWORD

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _space, credentials = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # another scheme (a user's token): not ours to judge
        try:
            key = collector_key_authenticate(credentials=credentials)
        except ValidationError as error:
            raise exceptions.AuthenticationFailed(error.messages[0]) from None
        return CollectorPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return self.keyword


class CollectorPrincipal:
    """The ``request.user`` of a collector: authenticated, but no user of the portal (no role, no access)."""

    is_authenticated = True
    is_active = False  # access_for() gives a collector no role
    is_anonymous = False
    pk = None

    def __init__(self, key: CollectorKey):
        self.collector_key = key

    def __str__(self) -> str:
        return f"collector {self.collector_key.prefix}"


class CollectorKeyScheme(OpenApiAuthenticationExtension):
    target_class = "telemetry.api.ingest.CollectorKeyAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A collector key of one customer, created in the portal or through /api/v1/collector-keys/, "
                "sent as `Authorization: Collector <prefix>.<secret>`. It writes that customer's telemetry only."
            ),
        }


class IsCollector(BasePermission):
    """Only a collector key may ingest: users (token or session) get 403, a missing or bad key 401."""

    message = ONLY_COLLECTORS

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, CollectorKey)


class IngestSchema(FleetAutoSchema):
    """The ingest operation is secured by the collector key alone (users are refused, so not listed)."""

    def get_auth(self):
        return [requirement for requirement in super().get_auth() if SECURITY_SCHEME in requirement]


# -- Ingest -----------------------------------------------------------------------------------------------------------


class AssetAddressMixin(serializers.Serializer):
    asset = serializers.IntegerField(required=False, min_value=1, help_text="The asset's id.")
    manufacturer = serializers.CharField(
        required=False, max_length=100, help_text="With serial: the manufacturer's name, as in the catalogue."
    )
    serial = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The serial number; alone only where it is unique among the customer's assets.",
    )


class ReadingItemSerializer(AssetAddressMixin):
    """A cumulative meter value."""

    type = serializers.ChoiceField(choices=["reading"])
    meter = serializers.ChoiceField(choices=Meter.choices)
    taken_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset.")
    value = serializers.DecimalField(max_digits=16, decimal_places=3, min_value=0, coerce_to_string=False)


class SupplyItemSerializer(AssetAddressMixin):
    """A supply's level in percent."""

    type = serializers.ChoiceField(choices=["supply"])
    supply = serializers.ChoiceField(choices=Supply.choices)
    taken_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset.")
    percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, coerce_to_string=False
    )


class EventItemSerializer(AssetAddressMixin):
    """A diagnostic event: a service call, a jam, a fault code, an impact."""

    type = serializers.ChoiceField(choices=["event"])
    code = serializers.CharField(max_length=40)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset.")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.INFO)
    message = serializers.CharField(required=False, allow_blank=True, help_text="Cut to 500 characters.")
    g_force = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    operator_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    cleared = serializers.BooleanField(required=False, default=False, help_text="The condition has cleared.")
    raw = serializers.DictField(required=False, help_text="The device's payload, kept as it came.")


INGEST_ITEM = PolymorphicProxySerializer(
    component_name="IngestItem",
    serializers={"reading": ReadingItemSerializer, "supply": SupplyItemSerializer, "event": EventItemSerializer},
    resource_type_field_name="type",
    many=True,
)


class IngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The rejected item's position in the batch, from 0.")
    reason = serializers.CharField()


class IngestResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Items stored now.")
    duplicates = serializers.IntegerField(help_text="Valid items already stored (or repeated in the batch).")
    rejected = serializers.IntegerField(help_text="Invalid items, each listed in errors.")
    errors = IngestErrorSerializer(many=True)


class IngestView(APIView):
    """Store a batch of telemetry (at most 10,000 items) for the collector key's customer.

    Items are checked one by one: invalid ones are rejected with their index and reason and never block the
    others; the valid ones are stored in one transaction. Items already stored count as duplicates, so a batch
    sent twice stores nothing the second time. With an `Idempotency-Key` header seen before for this key, the
    first answer is returned again and nothing is written.
    """

    authentication_classes = [CollectorKeyAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [IsCollector]
    parser_classes = [JSONParser]  # describes the body; it is read in bulk by telemetry.ingest
    schema = IngestSchema()

    @extend_schema(
        operation_id="telemetry_ingest",
        tags=["telemetry"],
        request=INGEST_ITEM,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="1 to 128 printable ASCII characters; a key seen before replays the first answer.",
            )
        ],
        responses={200: IngestResponseSerializer},
    )
    def post(self, request):
        idempotency_key = idempotency_key_check(value=request.headers.get("Idempotency-Key"))
        try:
            body = request.body
        except RequestDataTooBig:
            raise ValidationError(BODY_TOO_MANY) from None
        items = ingest_body_parse(body=body)
        result = collector_ingest(collector_key=request.auth, items=items, idempotency_key=idempotency_key)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else None
        return Response(result.as_response(), headers=headers)


# -- Collector keys ---------------------------------------------------------------------------------------------------


_visible_customers = visible(Organisation.objects.customers())


class CollectorKeySerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    created_by = serializers.StringRelatedField(allow_null=True)
    revoked_by = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = CollectorKey
        fields = [
            "id",
            "customer",
            "customer_name",
            "name",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields


class CollectorKeyCreatedSerializer(CollectorKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The whole key, <prefix>.<secret>: shown in this answer only, never again."
    )

    class Meta(CollectorKeySerializer.Meta):
        fields = [*CollectorKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class CollectorKeyCreateSerializer(serializers.Serializer):
    """Input of ``collector_key_create``; a customer's admin may leave out the customer (their own)."""

    customer = ScopedPrimaryKeyRelatedField(scoped_queryset=_visible_customers, required=False)
    name = serializers.CharField(max_length=100)

    def validate(self, attrs):
        if "customer" not in attrs:
            access = self.context.get("access")
            if access is None or access.is_provider_staff:
                raise serializers.ValidationError({"customer": CUSTOMER_REQUIRED})
            attrs["customer"] = Organisation.objects.get(pk=access.organisation_id)
        return attrs


class CollectorKeyViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Collector keys of the customers the caller manages (provider admins: all; customer admins: their own)."""

    queryset = CollectorKey.objects.none()
    selector = staticmethod(collector_key_list)
    serializer_class = CollectorKeySerializer
    filterset_class = CollectorKeyFilterSet
    ordering_fields = ["name", "prefix", "created_at", "last_used_at", "customer__name"]
    ordering = ["customer__name", "name"]
    write_capabilities = {"create": Capability.MANAGE_COLLECTOR_KEYS, "revoke": Capability.MANAGE_COLLECTOR_KEYS}

    @extend_schema(request=CollectorKeyCreateSerializer, responses={201: CollectorKeyCreatedSerializer})
    def create(self, request):
        serializer = CollectorKeyCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        key, plaintext = collector_key_create(by=request.user, **serializer.validated_data)
        key = self.get_queryset().get(pk=key.pk)
        key.key = plaintext
        return Response(CollectorKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={
            200: CollectorKeySerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="The key is already revoked."),
        },
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = collector_key_revoke(key=self.get_object(), by=request.user)
        return Response(CollectorKeySerializer(self.get_queryset().get(pk=key.pk)).data)


router = SimpleRouter()
router.register("collector-keys", CollectorKeyViewSet, basename="collectorkey")

urlpatterns = [path("telemetry/", IngestView.as_view(), name="api-telemetry-ingest"), *router.urls]
