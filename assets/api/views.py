"""API views of the asset registry. Reads go through selectors, writes through services."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.roles import Capability
from assets import selectors, services
from assets.api.serializers import (
    AssetCreateSerializer,
    AssetEventSerializer,
    AssetModelSerializer,
    AssetMoveSerializer,
    AssetSerializer,
    AssetStatusSerializer,
    AssetUpdateSerializer,
    ManufacturerSerializer,
    PartTypeSerializer,
    SiteSerializer,
    SiteWriteSerializer,
)
from assets.filters import AssetFilterSet, AssetModelFilterSet, PartTypeFilterSet, SiteFilterSet
from assets.models import Asset, AssetModel, Manufacturer, PartType, Site
from fleet.api.views import TenantViewSetMixin


class SiteViewSet(TenantViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Customers' sites."""

    queryset = Site.objects.none()
    selector = staticmethod(selectors.site_list)
    serializer_class = SiteSerializer
    filterset_class = SiteFilterSet
    ordering_fields = ["name", "city", "customer__name", "asset_count"]
    ordering = ["customer__name", "name"]
    write_capabilities = {
        "create": Capability.MANAGE_SITES,
        "update": Capability.MANAGE_SITES,
        "partial_update": Capability.MANAGE_SITES,
    }

    def get_serializer_class(self):
        return SiteWriteSerializer if self.action in self.write_capabilities else SiteSerializer

    @extend_schema(request=SiteWriteSerializer, responses={201: SiteSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        site = services.site_create(by=request.user, **serializer.validated_data)
        return Response(SiteSerializer(self.get_queryset().get(pk=site.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SiteWriteSerializer, responses={200: SiteSerializer})
    def update(self, request, *args, **kwargs):
        site = self.get_object()
        serializer = self.get_serializer(site, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "customer" in data and data["customer"].pk != site.customer_id:
            raise ValidationError({"customer": _("A site cannot move to another customer.")})
        services.site_update(site=site, by=request.user, **data)
        return Response(SiteSerializer(self.get_queryset().get(pk=site.pk)).data)


class CatalogueViewSet(
    TenantViewSetMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """The provider's catalogue: every signed-in user reads it, provider admins maintain it (via services)."""

    write_capabilities = {
        "create": Capability.MANAGE_CATALOGUE,
        "update": Capability.MANAGE_CATALOGUE,
        "partial_update": Capability.MANAGE_CATALOGUE,
    }
    save_service = None  # callable(instance=..., by=..., **fields) from assets.services

    def perform_create(self, serializer):
        serializer.instance = type(self).save_service(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).save_service(
            instance=serializer.instance, by=self.request.user, **serializer.validated_data
        )


class ManufacturerViewSet(CatalogueViewSet):
    queryset = Manufacturer.objects.none()
    selector = staticmethod(selectors.manufacturer_list)
    serializer_class = ManufacturerSerializer
    save_service = staticmethod(services.manufacturer_save)
    filterset_fields = ["name"]
    ordering_fields = ["name"]
    ordering = ["name"]


class AssetModelViewSet(CatalogueViewSet):
    queryset = AssetModel.objects.none()
    selector = staticmethod(selectors.asset_model_list)
    serializer_class = AssetModelSerializer
    save_service = staticmethod(services.asset_model_save)
    filterset_class = AssetModelFilterSet
    ordering_fields = ["name", "manufacturer__name", "category"]
    ordering = ["manufacturer__name", "name"]


class PartTypeViewSet(CatalogueViewSet):
    queryset = PartType.objects.none()
    selector = staticmethod(selectors.part_type_list)
    serializer_class = PartTypeSerializer
    save_service = staticmethod(services.part_type_save)
    filterset_class = PartTypeFilterSet
    ordering_fields = ["name", "code", "rated_life"]
    ordering = ["name"]


class AssetViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Assets of the customers the user may see; registration, edits, moves and status changes."""

    queryset = Asset.objects.none()
    selector = staticmethod(selectors.asset_list)
    serializer_class = AssetSerializer
    filterset_class = AssetFilterSet
    ordering_fields = [
        "serial_number",
        "asset_tag",
        "status",
        "install_date",
        "site__name",
        "customer__name",
        "asset_model__name",
    ]
    ordering = ["serial_number", "id"]
    write_capabilities = {
        "create": Capability.MANAGE_ASSETS,
        "partial_update": Capability.MANAGE_ASSETS,
        "move": Capability.MOVE_ASSETS,
        "set_status": Capability.MANAGE_ASSETS,
    }

    def _read(self, asset: Asset, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=asset.pk)
        return Response(AssetSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=AssetCreateSerializer, responses={201: AssetSerializer})
    def create(self, request):
        serializer = AssetCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        asset = services.asset_create(by=request.user, **serializer.validated_data)
        return self._read(asset, status.HTTP_201_CREATED)

    @extend_schema(request=AssetUpdateSerializer, responses={200: AssetSerializer})
    def partial_update(self, request, pk=None):
        asset = self.get_object()
        serializer = AssetUpdateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.asset_update(asset=asset, by=request.user, **serializer.validated_data)
        return self._read(asset)

    @extend_schema(request=AssetMoveSerializer, responses={200: AssetSerializer})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        asset = self.get_object()
        serializer = AssetMoveSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.asset_move(asset=asset, by=request.user, **serializer.validated_data)
        return self._read(asset)

    @extend_schema(request=AssetStatusSerializer, responses={200: AssetSerializer})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        asset = self.get_object()
        serializer = AssetStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.asset_change_status(asset=asset, by=request.user, **serializer.validated_data)
        return self._read(asset)

    @extend_schema(responses={200: AssetEventSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])  # the asset list's filters do not apply here
    def history(self, request, pk=None):
        asset = self.get_object()
        page = self.paginate_queryset(selectors.asset_history(asset=asset))
        return self.get_paginated_response(AssetEventSerializer(page, many=True).data)
