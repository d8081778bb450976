"""API views of maintenance: work orders (list, detail, create, assign, transition, complete, timeline)."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Organisation
from accounts.roles import Capability
from fleet.api.views import TenantViewSetMixin
from fleet.tenancy import access_for
from maintenance import selectors, services
from maintenance.api.serializers import (
    ServiceRequestSerializer,
    WorkOrderAssignSerializer,
    WorkOrderCompleteSerializer,
    WorkOrderCreateSerializer,
    WorkOrderEventSerializer,
    WorkOrderSerializer,
    WorkOrderTransitionSerializer,
)
from maintenance.choices import Priority, WorkOrderKind, WorkOrderSource
from maintenance.filters import WorkOrderFilterSet
from maintenance.models import WorkOrder


class WorkOrderViewSet(TenantViewSetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Work orders the user may see; dispatching staff and customers requesting service create them."""

    queryset = WorkOrder.objects.none()
    selector = staticmethod(selectors.work_order_list)
    serializer_class = WorkOrderSerializer
    filterset_class = WorkOrderFilterSet
    ordering_fields = ["number", "created_at", "priority", "status", "resolution_due_at", "customer__name"]
    ordering = ["-created_at", "-id"]
    write_capabilities = {
        "create": Capability.DISPATCH_WORK,
        "request_service": Capability.REQUEST_SERVICE,
        "assign": Capability.DISPATCH_WORK,
        "transition": Capability.UPDATE_ASSIGNED_WORK,
        "complete": Capability.UPDATE_ASSIGNED_WORK,
    }

    def get_serializer_class(self):
        return WorkOrderCreateSerializer if self.action == "create" else WorkOrderSerializer

    def _read(self, work_order: WorkOrder, code: int = status.HTTP_200_OK) -> Response:
        return Response(WorkOrderSerializer(self.get_queryset().get(pk=work_order.pk)).data, status=code)

    @extend_schema(request=WorkOrderCreateSerializer, responses={201: WorkOrderSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        work_order = services.work_order_create(
            source=WorkOrderSource.MANUAL, by=request.user, **serializer.validated_data
        )
        return self._read(work_order, status.HTTP_201_CREATED)

    @extend_schema(request=ServiceRequestSerializer, responses={201: WorkOrderSerializer})
    @action(detail=False, methods=["post"], url_path="request", filter_backends=[])
    def request_service(self, request):
        """A customer's user asks for service at one of their sites: a P3 service request of their organisation."""
        serializer = ServiceRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        access = access_for(request.user)
        work_order = services.work_order_create(
            customer=Organisation.objects.get(pk=access.organisation_id),
            kind=WorkOrderKind.SERVICE_REQUEST,
            priority=Priority.P3,
            source=WorkOrderSource.CUSTOMER_REQUEST,
            by=request.user,
            **serializer.validated_data,
        )
        return self._read(work_order, status.HTTP_201_CREATED)

    @extend_schema(request=WorkOrderAssignSerializer, responses={200: WorkOrderSerializer})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        work_order = self.get_object()
        serializer = WorkOrderAssignSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.work_order_assign(work_order=work_order, by=request.user, **serializer.validated_data)
        return self._read(work_order)

    @extend_schema(request=WorkOrderTransitionSerializer, responses={200: WorkOrderSerializer})
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        work_order = self.get_object()
        serializer = WorkOrderTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.work_order_transition(work_order=work_order, by=request.user, **serializer.validated_data)
        return self._read(work_order)

    @extend_schema(request=WorkOrderCompleteSerializer, responses={200: WorkOrderSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        work_order = self.get_object()
        serializer = WorkOrderCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.work_order_complete(work_order=work_order, by=request.user, **serializer.validated_data)
        return self._read(work_order)

    @extend_schema(responses={200: WorkOrderEventSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def timeline(self, request, pk=None):
        work_order = self.get_object()
        page = self.paginate_queryset(selectors.work_order_events(work_order=work_order))
        return self.get_paginated_response(WorkOrderEventSerializer(page, many=True).data)
