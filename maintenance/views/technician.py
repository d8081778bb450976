"""Portal pages: the technician's day, the completion summary and report of a work order, and the asset panel.

"My day" lists the work orders assigned to the signed-in user: the open ones by resolution due time (none
last) and priority, then those completed today. ``my_day_work_orders`` is the one query the page and the API
(``maintenance.api.technician``) share.
"""

import datetime
from urllib.parse import quote_plus

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from accounts.choices import Role
from accounts.models import User
from accounts.roles import Capability
from fleet.dashboard import Tile
from fleet.tenancy import access_for
from fleet.views import PortalMixin, TenantDetailView
from maintenance import reports, selectors, services
from maintenance.choices import WORK_ORDER_OPEN_STATES, WorkOrderStatus
from maintenance.models import WorkOrder

# The move a technician usually makes next from a status (completing has its own form on the work-order page).
NEXT_STEP: dict[str, str] = {
    WorkOrderStatus.ASSIGNED: WorkOrderStatus.EN_ROUTE,
    WorkOrderStatus.EN_ROUTE: WorkOrderStatus.IN_PROGRESS,
    WorkOrderStatus.ON_HOLD: WorkOrderStatus.IN_PROGRESS,
}
NEXT_STEP_LABELS = {
    WorkOrderStatus.EN_ROUTE: _("On my way"),
    WorkOrderStatus.IN_PROGRESS: _("Start work"),
}
DONE_STATES = (WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED)
ASSET_PANEL_ORDERS = 10
MAPS_URL = "https://maps.google.com/?q="


def _start_of_today(now: datetime.datetime) -> datetime.datetime:
    today = timezone.localdate(now)
    return timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))


def my_day_work_orders(*, user: User, now: datetime.datetime) -> QuerySet[WorkOrder]:
    """The work orders assigned to ``user`` that are open, or were completed today: open ones first, by
    resolution due time (none last), priority and number; then today's completed ones, latest first."""
    return (
        selectors.work_order_list(user=user)
        .filter(assigned_to_id=user.pk)
        .filter(
            Q(status__in=WORK_ORDER_OPEN_STATES) | Q(status__in=DONE_STATES, completed_at__gte=_start_of_today(now))
        )
        .select_related("asset__asset_model__manufacturer")
        .annotate(
            done=Case(
                When(status__in=WORK_ORDER_OPEN_STATES, then=Value(0)), default=Value(1), output_field=IntegerField()
            )
        )
        .order_by(
            "done",
            F("resolution_due_at").asc(nulls_last=True),
            "priority",
            F("completed_at").desc(nulls_last=True),
            "number",
            "pk",
        )
    )


def site_maps_url(site) -> str:
    """A maps search for the site's address (its name when it has none)."""
    lines = [line for line in site.address_lines if line != site.country] or [site.name]
    return MAPS_URL + quote_plus(", ".join([*lines, site.country] if site.country else lines))


def next_step(*, work_order: WorkOrder, user: User) -> tuple[str, str] | None:
    """The forward move ``user`` may make now (status and button label), or None."""
    target = NEXT_STEP.get(work_order.status)
    if target is None:
        return None
    if target not in services.work_order_allowed_transitions(work_order=work_order, user=user):
        return None
    return target, str(NEXT_STEP_LABELS.get(target, WorkOrderStatus(target).label))


class MyDayView(PortalMixin, TemplateView):
    """The signed-in technician's work orders for today, one card each, with the next move as a big button."""

    required_capability = Capability.UPDATE_ASSIGNED_WORK
    template_name = "maintenance/technician/my_day.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        open_cards, done_cards = [], []
        for work_order in my_day_work_orders(user=self.request.user, now=now):
            card = {
                "work_order": work_order,
                "maps_url": site_maps_url(work_order.site),
                "next": next_step(work_order=work_order, user=self.request.user),
                "overdue": work_order.overdue_flags(now)["resolution"],
            }
            (open_cards if work_order.status in WORK_ORDER_OPEN_STATES else done_cards).append(card)
        context.update({"open_cards": open_cards, "done_cards": done_cards, "next_url": reverse("maintenance:my_day")})
        return context


def _report_selector(*, user) -> QuerySet[WorkOrder]:
    return reports.work_order_report_queryset(selectors.work_order_list(user=user))


class WorkOrderSummaryView(TenantDetailView):
    """What was done on a work order: notes, checklist, parts, labour, readings, signature, and its report."""

    selector = staticmethod(_report_selector)
    template_name = "maintenance/technician/summary.html"
    context_object_name = "work_order"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        work_order = self.object
        context.update(
            {
                "report": reports.completion_report_context(work_order=work_order),
                "has_report": work_order.status in reports.REPORTABLE_STATES,
            }
        )
        return context


class WorkOrderReportView(PortalMixin, View):
    """The completion report PDF of a completed or closed work order the user may see; otherwise 404."""

    def get(self, request, pk: int):
        work_order = get_object_or_404(
            reports.work_order_reportable(selectors.work_order_list(user=request.user)), pk=pk
        )
        pdf = reports.completion_report_pdf_render(work_order=work_order)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{reports.completion_report_filename(work_order)}"'
        return response


def my_day_tiles(*, user) -> list[Tile]:
    """A technician's dashboard links to My day, with how many open orders wait there."""
    access = access_for(user)
    if access is None or access.role != Role.TECHNICIAN:
        return []
    count = WorkOrder.objects.visible_to(user).open().filter(assigned_to_id=user.pk).count()
    return [Tile("maintenance/technician/_my_day_tile.html", {"count": count}, order=12)]


def asset_work_orders_panel(*, user, obj) -> list[Tile]:
    """The asset's latest work orders (one query) and, for its customer's users, a button to request service."""
    access = access_for(user)
    if access is None:
        return []
    rows = list(
        WorkOrder.objects.visible_to(user)
        .filter(asset_id=obj.pk)
        .select_related("assigned_to")
        .order_by("-created_at", "-pk")[:ASSET_PANEL_ORDERS]
    )
    may_request = (
        access.can(Capability.REQUEST_SERVICE)
        and not access.is_provider_staff
        and obj.customer_id == access.organisation_id
    )
    return [
        Tile(
            "maintenance/technician/_asset_work_orders.html",
            {"rows": rows, "asset": obj, "may_request": may_request, "limit": ASSET_PANEL_ORDERS},
            order=45,
        )
    ]


urlpatterns = [
    path("work-orders/my-day/", MyDayView.as_view(), name="my_day"),
    path("work-orders/<int:pk>/summary/", WorkOrderSummaryView.as_view(), name="work_order_summary"),
    path("work-orders/<int:pk>/report.pdf", WorkOrderReportView.as_view(), name="work_order_report"),
]
