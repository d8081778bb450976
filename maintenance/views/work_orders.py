"""Portal pages of maintenance: the work-order list and page (assign, move, complete), creating and requesting."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from accounts.choices import Role
from accounts.models import Organisation
from accounts.roles import Capability
from fleet.dashboard import Tile
from fleet.panels import panels_for
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from maintenance import selectors, services
from maintenance.choices import (
    WORK_ORDER_OPEN_STATES,
    Priority,
    SlaState,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.filters import WorkOrderFilterSet
from maintenance.forms import (
    ServiceRequestForm,
    WorkOrderAssignForm,
    WorkOrderCompleteForm,
    WorkOrderCreateForm,
    WorkOrderTransitionForm,
)
from maintenance.models import WorkOrder
from maintenance.sla import with_sla_state
from maintenance.work import erasure_required

WORK_ORDER_COLUMNS = (
    Column("number", _("Number"), "number", sort="number", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "site__name", sort="site__name"),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number", phone=False),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(WorkOrderKind.choices), phone=False),
    Column("priority", _("Priority"), "priority", sort="priority", choices=dict(Priority.choices)),
    Column("status", _("Status"), "status", sort="status", choices=dict(WorkOrderStatus.choices)),
    Column("assigned", _("Technician"), "assigned_to__email", sort="assigned_to__email", phone=False),
    Column("due", _("Resolution due"), "resolution_due_at", sort="resolution_due_at"),
    Column("sla", _("SLA"), "sla_state", sort="sla_rank", choices=dict(SlaState.choices)),
)

# Buttons of the detail page: completing has its own form, assigning needs a technician.
BUTTON_EXCLUDED = (WorkOrderStatus.COMPLETED, WorkOrderStatus.ASSIGNED)


def _error_messages(request, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


def work_order_tiles(*, user) -> list[Tile]:
    """Open work orders by status and how many are overdue; for a technician, their own open orders."""
    access = access_for(user)
    if access is None:
        return []
    counts = selectors.work_order_counts(user=user, now=timezone.now())
    by_status = [(status, WorkOrderStatus(status).label, counts[status]) for status in WORK_ORDER_OPEN_STATES]
    title = _("My open work orders") if access.role == Role.TECHNICIAN else _("Open work orders")
    return [
        Tile(
            "maintenance/_dashboard_tiles.html",
            {"title": title, "total": counts["total"], "overdue": counts["overdue"], "by_status": by_status},
            order=14,
        )
    ]


class WorkOrderListView(FilteredListView):
    selector = staticmethod(selectors.work_order_list)
    filterset_class = WorkOrderFilterSet
    columns = WORK_ORDER_COLUMNS
    default_sort = "-number"
    title = _("Work orders")
    csv_filename = "work-orders"
    detail_url_name = "maintenance:work_order_detail"
    create_url_name = "maintenance:work_order_create"
    create_capability = Capability.DISPATCH_WORK

    def get_queryset(self):
        return with_sla_state(super().get_queryset(), timezone.now())


class WorkOrderDetailView(TenantDetailView):
    """A work order, its due times, its timeline and the forms that move it on."""

    selector = staticmethod(selectors.work_order_list)
    template_name = "maintenance/work_order_detail.html"
    context_object_name = "work_order"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        work_order = self.object
        transitions = services.work_order_allowed_transitions(work_order=work_order, user=self.request.user)
        may_dispatch = (
            self.access.is_provider_staff
            and self.access.can(Capability.DISPATCH_WORK)
            and work_order.status in WORK_ORDER_OPEN_STATES
        )
        context.update(
            {
                "overdue": work_order.overdue_flags(timezone.now()),
                "events": selectors.work_order_events(work_order=work_order),
                "buttons": [
                    (status, WorkOrderStatus(status).label) for status in transitions if status not in BUTTON_EXCLUDED
                ],
                "may_complete": WorkOrderStatus.COMPLETED in transitions,
                "assign_form": WorkOrderAssignForm(user=self.request.user) if may_dispatch else None,
                "complete_form": WorkOrderCompleteForm(erasure=erasure_required(work_order=work_order)),
                "transition_form": WorkOrderTransitionForm(),
                "panels": panels_for("work_order", user=self.request.user, obj=work_order),
            }
        )
        return context


class WorkOrderActionView(PortalMixin, View):
    """A POST that changes one work order through a service; errors come back as messages."""

    success_message = ""

    def get_work_order(self, pk: int) -> WorkOrder:
        return get_object_or_404(selectors.work_order_list(user=self.request.user), pk=pk)

    def get_form(self):
        raise NotImplementedError

    def perform(self, work_order: WorkOrder, data: dict) -> None:
        raise NotImplementedError

    def get_success_url(self, work_order: WorkOrder) -> str:
        """Where to go after the change: a safe ``next`` of the form (My day), else the work-order page."""
        next_url = self.request.POST.get("next", "")
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return next_url
        return reverse("maintenance:work_order_detail", args=[work_order.pk])

    def post(self, request, pk: int):
        work_order = self.get_work_order(pk)
        form = self.get_form()
        if form.is_valid():
            try:
                self.perform(work_order, form.cleaned_data)
            except ValidationError as error:
                _error_messages(request, error)
            else:
                messages.success(request, self.success_message)
                return redirect(self.get_success_url(work_order))
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        return redirect("maintenance:work_order_detail", pk=work_order.pk)


class WorkOrderTransitionView(WorkOrderActionView):
    success_message = _("The work order was updated.")

    def get_form(self):
        return WorkOrderTransitionForm(self.request.POST)

    def perform(self, work_order, data):
        services.work_order_transition(
            work_order=work_order, to_status=data["to_status"], by=self.request.user, note=data["note"]
        )


class WorkOrderAssignView(WorkOrderActionView):
    required_capability = Capability.DISPATCH_WORK
    success_message = _("The work order was assigned.")

    def get_form(self):
        return WorkOrderAssignForm(self.request.POST, user=self.request.user)

    def perform(self, work_order, data):
        services.work_order_assign(work_order=work_order, technician=data["technician"], by=self.request.user)


class WorkOrderCompleteView(WorkOrderActionView):
    success_message = _("The work order was completed.")

    def get_form(self):
        return WorkOrderCompleteForm(self.request.POST)

    def perform(self, work_order, data):
        services.work_order_complete(work_order=work_order, by=self.request.user, **data)

    def get_success_url(self, work_order: WorkOrder) -> str:
        return reverse("maintenance:work_order_summary", args=[work_order.pk])


class WorkOrderFormView(PortalMixin, FormView):
    template_name = "maintenance/work_order_form.html"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def create(self, data: dict) -> WorkOrder:
        raise NotImplementedError

    def form_valid(self, form):
        try:
            work_order = self.create(form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Work order %(number)s was opened.") % {"number": work_order.number})
        return redirect("maintenance:work_order_detail", pk=work_order.pk)


class WorkOrderCreateView(WorkOrderFormView):
    required_capability = Capability.DISPATCH_WORK
    form_class = WorkOrderCreateForm
    extra_context = {"title": _("New work order")}

    def create(self, data: dict) -> WorkOrder:
        return services.work_order_create(source=WorkOrderSource.MANUAL, by=self.request.user, **data)


class ServiceRequestView(WorkOrderFormView):
    """A customer's user asks their provider for service: a P3 service request of their organisation.

    The form offers the sites of the user's own organisation only, so provider staff (who open work orders
    instead) find nothing to choose."""

    required_capability = Capability.REQUEST_SERVICE
    form_class = ServiceRequestForm
    extra_context = {"title": _("Request service")}

    def get_initial(self):
        """``?asset=<id>`` (the asset page's button) preselects that asset and its site, if the user sees it."""
        initial = super().get_initial()
        asset_id = self.request.GET.get("asset", "")
        if asset_id.isdigit():
            asset = ServiceRequestForm(user=self.request.user).fields["asset"].queryset.filter(pk=asset_id).first()
            if asset is not None:
                initial.update({"asset": asset.pk, "site": asset.site_id})
        return initial

    def create(self, data: dict) -> WorkOrder:
        return services.work_order_create(
            customer=Organisation.objects.get(pk=self.access.organisation_id),
            kind=WorkOrderKind.SERVICE_REQUEST,
            priority=Priority.P3,
            source=WorkOrderSource.CUSTOMER_REQUEST,
            by=self.request.user,
            **data,
        )


urlpatterns = [
    path("work-orders/", WorkOrderListView.as_view(), name="work_order_list"),
    path("work-orders/new/", WorkOrderCreateView.as_view(), name="work_order_create"),
    path("work-orders/request/", ServiceRequestView.as_view(), name="service_request"),
    path("work-orders/<int:pk>/", WorkOrderDetailView.as_view(), name="work_order_detail"),
    path("work-orders/<int:pk>/transition/", WorkOrderTransitionView.as_view(), name="work_order_transition"),
    path("work-orders/<int:pk>/assign/", WorkOrderAssignView.as_view(), name="work_order_assign"),
    path("work-orders/<int:pk>/complete/", WorkOrderCompleteView.as_view(), name="work_order_complete"),
]
