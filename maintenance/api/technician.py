"""API: the technician's day and the completion report.

``GET /api/v1/work-orders/my-day/`` lists the caller's assigned work orders as "My day" shows them (open ones by
resolution due time and priority, then those completed today), each with the site's address and the next move.
``GET /api/v1/work-orders/{id}/report/`` answers the completion report PDF of a completed or closed work order the
caller may see (404 before completion and for anyone else's).
"""

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from fleet.tenancy import access_for
from maintenance import reports, selectors
from maintenance.api.serializers import WorkOrderSerializer
from maintenance.choices import WorkOrderStatus
from maintenance.views.technician import my_day_work_orders, next_step, site_maps_url


class HasAccess(BasePermission):
    """Any signed-in user with a membership; what they see is scoped by the view."""

    def has_permission(self, request, view) -> bool:
        return access_for(request.user) is not None


class MyDayWorkOrderSerializer(WorkOrderSerializer):
    """A work order of My day: the work order with where to go, what to work on and the next move."""

    site_address_lines = serializers.ListField(source="site.address_lines", child=serializers.CharField())
    site_time_zone = serializers.CharField(source="site.time_zone", read_only=True)
    maps_url = serializers.SerializerMethodField()
    asset_model_name = serializers.SerializerMethodField()
    next_status = serializers.SerializerMethodField()

    class Meta(WorkOrderSerializer.Meta):
        fields = [
            *WorkOrderSerializer.Meta.fields,
            "site_address_lines",
            "site_time_zone",
            "maps_url",
            "asset_model_name",
            "next_status",
        ]
        read_only_fields = fields

    def get_maps_url(self, obj) -> str:
        return site_maps_url(obj.site)

    def get_asset_model_name(self, obj) -> str | None:
        if obj.asset is None:
            return None
        return f"{obj.asset.asset_model.manufacturer.name} {obj.asset.asset_model.name}"

    @extend_schema_field(serializers.ChoiceField(choices=WorkOrderStatus.choices, allow_null=True))
    def get_next_status(self, obj) -> str | None:
        step = next_step(work_order=obj, user=self.context["request"].user)
        return step[0] if step else None


class MyDayView(generics.ListAPIView):
    """The caller's assigned work orders that are open or were completed today, in My day's order."""

    permission_classes = [HasAccess]
    serializer_class = MyDayWorkOrderSerializer
    filter_backends: list = []

    def get_queryset(self):
        return my_day_work_orders(user=self.request.user, now=timezone.now())


class WorkOrderReportView(APIView):
    """The completion report PDF of one work order."""

    permission_classes = [HasAccess]

    @extend_schema(
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request, id):
        work_order = generics.get_object_or_404(
            reports.work_order_reportable(selectors.work_order_list(user=request.user)), pk=id
        )
        pdf = reports.completion_report_pdf_render(work_order=work_order)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{reports.completion_report_filename(work_order)}"'
        return response


urlpatterns = [
    path("work-orders/my-day/", MyDayView.as_view(), name="work_order_my_day"),
    path("work-orders/<str:id>/report/", WorkOrderReportView.as_view(), name="work_order_report"),
]
