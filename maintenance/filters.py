"""FilterSets of maintenance: the work-order list, shared by the portal page and the API."""

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.choices import Role
from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.models import Site
from fleet.filters import SearchFilterSet
from fleet.tenancy import access_for, visible
from maintenance.choices import Priority, SlaState, WorkOrderKind, WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.sla import with_sla_state

WORK_ORDER_STATUS_OPEN = "open"


_visible_customers = visible(Organisation.objects.customers())


_visible_sites = visible(Site.objects.all())


def _technicians(request):
    if request is None:
        return User.objects.none()
    return technicians_for(request.user)


def technicians_for(user) -> QuerySet[User]:
    """The technicians of ``user``'s provider for dispatching staff (the assign form, the technician filter)."""
    access = access_for(user)
    if access is None or not access.is_provider_staff or not access.can(Capability.DISPATCH_WORK):
        return User.objects.none()
    return User.objects.filter(
        membership__organisation_id=access.provider_id, membership__role=Role.TECHNICIAN, is_active=True
    ).order_by("first_name", "last_name", "email")


class WorkOrderFilterSet(SearchFilterSet):
    search_fields = ("number", "description", "asset__serial_number", "asset__asset_tag", "site__name")
    narrowed_by = {"site": "customer"}
    provider_only_filters = ("customer", "assigned_to")
    status = django_filters.ChoiceFilter(
        choices=[(WORK_ORDER_STATUS_OPEN, pgettext_lazy("work order", "Open")), *WorkOrderStatus.choices],
        method="filter_status",
        label=_("Status"),
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label=_("Priority"))
    kind = django_filters.ChoiceFilter(choices=WorkOrderKind.choices, label=_("Kind"))
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=_visible_sites, label=_("Site"))
    assigned_to = django_filters.ModelChoiceFilter(queryset=_technicians, label=_("Technician"))
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))
    sla_state = django_filters.ChoiceFilter(choices=SlaState.choices, label=_("SLA state"))

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        access = access_for(request.user) if request is not None else None
        if access is None or not access.can(Capability.DISPATCH_WORK):
            self.filters.pop("assigned_to", None)  # only dispatchers choose among the technicians

    class Meta:
        model = WorkOrder
        fields = ["status", "priority", "kind", "customer", "site", "assigned_to", "overdue", "sla_state"]

    def filter_queryset(self, queryset):
        # Every list reads the SLA state the same way (``sla.with_sla_state``): shown, filtered and sorted by.
        return super().filter_queryset(with_sla_state(queryset, timezone.now()))

    def filter_status(self, queryset, name, value):
        if value == WORK_ORDER_STATUS_OPEN:
            return queryset.open()
        return queryset.filter(status=value)

    def filter_overdue(self, queryset, name, value):
        overdue = WorkOrder.objects.overdue(timezone.now()).values("pk")
        if value:
            return queryset.filter(pk__in=overdue)
        return queryset.exclude(pk__in=overdue)
