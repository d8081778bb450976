"""API: supply orders (list, detail, ordering by hand) and their lifecycle actions ship, deliver and cancel."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from assets.api.serializers import ScopedPrimaryKeyRelatedField
from assets.choices import PartKind
from assets.models import Asset, PartType
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for, visible
from maintenance import supplies
from maintenance.choices import SupplyOrderSource
from maintenance.models import SupplyOrder

# --- Serializers ------------------------------------------------------------------------------------------------


class SupplyOrderSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    site_name = serializers.CharField(source="site.name", read_only=True)
    asset_serial_number = serializers.CharField(source="asset.serial_number", read_only=True)
    part_type_code = serializers.CharField(source="part_type.code", read_only=True)
    part_type_name = serializers.CharField(source="part_type.name", read_only=True)

    class Meta:
        model = SupplyOrder
        fields = [
            "id",
            "number",
            "customer",
            "customer_name",
            "site",
            "site_name",
            "asset",
            "asset_serial_number",
            "part_type",
            "part_type_code",
            "part_type_name",
            "quantity",
            "status",
            "source",
            "needed_by",
            "note",
            "tracking",
            "requested_by",
            "created_at",
            "shipped_at",
            "delivered_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class SupplyOrderCreateSerializer(serializers.Serializer):
    """Input of ``supply_order_create`` for an order by hand."""

    asset = ScopedPrimaryKeyRelatedField(scoped_queryset=visible(Asset.objects.all()))
    part_type = serializers.PrimaryKeyRelatedField(queryset=PartType.objects.filter(kind=PartKind.CONSUMABLE))
    quantity = serializers.IntegerField(min_value=1, max_value=99, required=False, default=1)
    needed_by = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SupplyOrderShipSerializer(serializers.Serializer):
    tracking = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class SupplyOrderCancelSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=400)


# --- Views ------------------------------------------------------------------------------------------------------


class SupplyOrderPermission(BasePermission):
    """Reads for anyone with access (the scoped queryset decides what they see); ordering for the roles that may
    order by hand; each action for who may take it on that order (its state is the service's 400)."""

    def has_permission(self, request, view) -> bool:
        if access_for(request.user) is None:
            return False
        if view.action == "create":
            return supplies.may_order_any(request.user)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return supplies.may_act(action=view.action, order=obj, user=request.user)


class SupplyOrderViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Supply orders the user may see; customers and dispatching staff order by hand."""

    queryset = SupplyOrder.objects.none()
    selector = staticmethod(supplies.supply_order_list)
    serializer_class = SupplyOrderSerializer
    filterset_class = supplies.SupplyOrderFilterSet
    permission_classes = [SupplyOrderPermission]
    ordering_fields = ["number", "created_at", "needed_by", "shipped_at", "status", "customer__name"]
    ordering = ["-created_at", "-id"]

    def get_serializer_class(self):
        return SupplyOrderCreateSerializer if self.action == "create" else SupplyOrderSerializer

    def _read(self, order: SupplyOrder, code: int = status.HTTP_200_OK) -> Response:
        return Response(SupplyOrderSerializer(self.get_queryset().get(pk=order.pk)).data, status=code)

    @extend_schema(request=SupplyOrderCreateSerializer, responses={201: SupplyOrderSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = supplies.supply_order_create(
            source=SupplyOrderSource.MANUAL, by=request.user, **serializer.validated_data
        )
        return self._read(order, status.HTTP_201_CREATED)

    @extend_schema(request=SupplyOrderShipSerializer, responses={200: SupplyOrderSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def ship(self, request, pk=None):
        order = self.get_object()
        serializer = SupplyOrderShipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        supplies.supply_order_ship(order=order, by=request.user, **serializer.validated_data)
        return self._read(order)

    @extend_schema(request=None, responses={200: SupplyOrderSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def deliver(self, request, pk=None):
        order = self.get_object()
        supplies.supply_order_deliver(order=order, by=request.user)
        return self._read(order)

    @extend_schema(request=SupplyOrderCancelSerializer, responses={200: SupplyOrderSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        order = self.get_object()
        serializer = SupplyOrderCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        supplies.supply_order_cancel(order=order, by=request.user, **serializer.validated_data)
        return self._read(order)


router = SimpleRouter()
router.register("supply-orders", SupplyOrderViewSet, basename="supplyorder")
urlpatterns = router.urls
