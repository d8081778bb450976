"""Portal pages: approvals of estimates against the not-to-exceed amount, and repair-versus-replace.

The approvals list shows every work order whose estimate waits for approval or was decided, pending first;
amounts are price columns (hidden from technicians, the service desk and customer viewers, who see the approval
state only). Customer admins decide there or on the work-order page; dispatching staff enter estimates on the
work-order page (the service desk enters them without seeing the amounts on record).
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from accounts.choices import OrganisationKind
from accounts.models import Organisation
from accounts.roles import Capability
from fleet.dashboard import Tile
from fleet.money import Currency
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin
from maintenance import approvals, selectors
from maintenance.choices import WORK_ORDER_OPEN_STATES, ApprovalStatus, WorkOrderStatus

AMOUNT_FIELD = {"max_digits": 12, "decimal_places": 2, "required": False}


class EstimateForm(forms.Form):
    amount = forms.DecimalField(label=_("Estimate"), max_digits=12, decimal_places=2)
    replacement_quote = forms.DecimalField(
        label=_("Replacement quote"),
        help_text=_("What replacing the asset would cost, for the repair-or-replace comparison."),
        **AMOUNT_FIELD,
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[(value, ApprovalStatus(value).label) for value in approvals.DECISIONS]
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class MaintenanceSettingsForm(forms.Form):
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices, initial=Currency.JPY)
    not_to_exceed = forms.DecimalField(
        label=_("Not-to-exceed amount"),
        help_text=_("A work order whose estimate passes this amount waits for the customer's approval."),
        **AMOUNT_FIELD,
    )
    replace_review_above = forms.DecimalField(
        label=_("Repair-or-replace review above"),
        help_text=_("Above this estimate the approval offers replacing the asset instead of repairing it."),
        **AMOUNT_FIELD,
    )
    labour_rate = forms.DecimalField(label=_("Labour rate per hour"), max_digits=10, decimal_places=2, required=False)


# --- Dashboard and work-order panel ------------------------------------------------------------------------------


def _is_customer_approver(access) -> bool:
    return access is not None and not access.is_provider_staff and access.can(Capability.APPROVE_WORK)


def approval_tiles(*, user) -> list[Tile]:
    """For a customer's admin: how many work orders wait for their approval."""
    access = access_for(user)
    if not _is_customer_approver(access):
        return []
    count = approvals.approvals_pending_count(user=user)
    return [Tile("maintenance/approvals/_dashboard_tile.html", {"count": count}, order=15)]


def approval_panel(*, user, obj) -> list[Tile]:
    """The approval block of the work-order page: amounts for price-seeing roles, the state for everyone."""
    access = access_for(user)
    if access is None:
        return []
    work_order = obj
    may_estimate = approvals.may_estimate(user=user, work_order=work_order)
    may_decide = approvals.may_decide(user=user, work_order=work_order)
    may_convert = (
        access.is_provider_staff
        and access.can(Capability.DISPATCH_WORK)
        and work_order.approval_status == ApprovalStatus.REPLACE
        and work_order.status in WORK_ORDER_OPEN_STATES
        and work_order.asset_id is not None
    )
    if not (access.sees_prices or may_estimate) and work_order.approval_status == ApprovalStatus.NOT_REQUIRED:
        return []
    context = {
        "work_order": work_order,
        "sees_prices": access.sees_prices,
        "may_estimate": may_estimate,
        "may_convert": may_convert,
    }
    if access.sees_prices:
        resolved = approvals.maintenance_settings_for(customer=work_order.customer)
        offered = approvals.replace_offered(work_order=work_order, resolved=resolved)
        context.update(
            {
                "resolved": resolved,
                "replace_offered": offered,
                "facts": approvals.repair_or_replace(work_order=work_order) if offered else None,
            }
        )
    else:
        offered = False
    if may_estimate:
        initial = {}
        if access.sees_prices:  # the desk enters estimates without seeing the amounts on record
            initial = {"amount": work_order.estimate_amount, "replacement_quote": work_order.replacement_quote}
        context["estimate_form"] = EstimateForm(initial=initial)
    if may_decide:
        context["decision_form"] = DecisionForm()
        context["decisions"] = _decisions(offered)
    return [Tile("maintenance/_wo_approval.html", context, order=30)]


def _decisions(replace_offered: bool) -> list[tuple[str, str]]:
    return [
        (value, label)
        for value, label in (
            (ApprovalStatus.APPROVED, _("Approve")),
            (ApprovalStatus.REPLACE, _("Replace instead")),
            (ApprovalStatus.REJECTED, _("Reject")),
        )
        if value != ApprovalStatus.REPLACE or replace_offered
    ]


# --- Approvals list ----------------------------------------------------------------------------------------------

APPROVAL_COLUMNS = (
    Column("number", _("Number"), "number", sort="number", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "site__name", sort="site__name", phone=False),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("approval", _("Approval"), "approval_status", sort="waiting", choices=dict(ApprovalStatus.choices)),
    Column("estimate", _("Estimate"), "estimate_amount", sort="estimate_amount", price=True, currency_path="currency"),
    Column(
        "quote",
        _("Replacement quote"),
        "replacement_quote",
        sort="replacement_quote",
        price=True,
        currency_path="currency",
        phone=False,
    ),
    Column("currency", _("Currency"), "currency", price=True, html=False),
    Column("status", _("Status"), "status", sort="status", choices=dict(WorkOrderStatus.choices), phone=False),
    Column("decided_by", _("Decided by"), "approval_decided_by__email", phone=False),
    Column("decided_at", _("Decided at"), "approval_decided_at", sort="approval_decided_at", phone=False),
)


class ApprovalListView(FilteredListView):
    """Pending estimates first, then decided ones; customer admins decide in the row."""

    selector = staticmethod(approvals.approval_list)
    filterset_class = approvals.ApprovalFilterSet
    columns = APPROVAL_COLUMNS
    default_sort = "approval"
    title = _("Approvals")
    csv_filename = "approvals"
    detail_url_name = "maintenance:work_order_detail"
    template_name = "maintenance/approvals/approval_list.html"
    row_actions_template = "maintenance/approvals/_row_actions.html"

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and not self.request.headers.get("HX-Boosted"):
            return ["portal/list.html#results"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(context["page_obj"].object_list)
        may_decide = _is_customer_approver(self.access)
        offered, facts = set(), {}
        if self.access.sees_prices and rows:
            resolved = approvals.maintenance_settings_for_many({row.customer_id: row.customer for row in rows}.values())
            pending = [
                row
                for row in rows
                if row.approval_status == ApprovalStatus.PENDING
                and approvals.replace_offered(work_order=row, resolved=resolved[row.customer_id])
            ]
            offered = {row.pk for row in pending}
            facts = approvals.repair_or_replace_many(pending)
        for row in rows:
            row.approval_facts = facts.get(row.pk)
            pending_here = may_decide and row.approval_status == ApprovalStatus.PENDING
            row.approval_decisions = _decisions(row.pk in offered) if pending_here else []
        if may_decide:
            customer = Organisation.objects.get(pk=self.access.organisation_id)
            context["own_limits"] = approvals.maintenance_settings_for(customer=customer)
        context.update(
            {
                "may_decide": may_decide,
                "decision_form": DecisionForm(),
                "may_manage_settings": self.access.is_provider_staff and self.access.can(Capability.MANAGE_CONTRACTS),
            }
        )
        return context


# --- Actions on one work order -----------------------------------------------------------------------------------


class ApprovalActionView(PortalMixin, View):
    """A POST that changes one work order through an approvals service; errors come back as messages."""

    form_class: type[forms.Form] = forms.Form
    success_message = ""

    def perform(self, work_order, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        work_order = get_object_or_404(selectors.work_order_list(user=request.user), pk=pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                self.perform(work_order, form.cleaned_data)
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(request, self.success_message)
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        if request.POST.get("next") == "approvals":
            return redirect("maintenance:approval_list")
        return redirect("maintenance:work_order_detail", pk=work_order.pk)


class WorkOrderEstimateView(ApprovalActionView):
    required_capability = Capability.DISPATCH_WORK
    form_class = EstimateForm
    success_message = _("The estimate was saved.")

    def perform(self, work_order, data):
        approvals.work_order_estimate(work_order=work_order, by=self.request.user, **data)


class WorkOrderApprovalDecideView(ApprovalActionView):
    required_capability = Capability.APPROVE_WORK
    form_class = DecisionForm
    success_message = _("Your decision was recorded.")

    def perform(self, work_order, data):
        approvals.work_order_approval_decide(work_order=work_order, by=self.request.user, **data)


class WorkOrderConvertReplacementView(ApprovalActionView):
    required_capability = Capability.DISPATCH_WORK
    success_message = _("The repair was cancelled; a removal and an installation were opened.")

    def perform(self, work_order, data):
        approvals.work_order_convert_to_replacement(work_order=work_order, by=self.request.user)


# --- Settings ----------------------------------------------------------------------------------------------------


def settings_list(*, user):
    return approvals.maintenance_settings_organisations(user=user).annotate(
        own_currency=F("maintenance_settings__currency"),
        own_not_to_exceed=F("maintenance_settings__not_to_exceed"),
        own_replace_review_above=F("maintenance_settings__replace_review_above"),
        own_labour_rate=F("maintenance_settings__labour_rate"),
    )


SETTINGS_COLUMNS = (
    Column("name", _("Organisation"), "name", sort="name", link=True),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(OrganisationKind.choices)),
    Column("limit", _("Not-to-exceed amount"), "own_not_to_exceed", price=True, currency_path="own_currency"),
    Column(
        "review",
        _("Repair-or-replace review above"),
        "own_replace_review_above",
        price=True,
        currency_path="own_currency",
    ),
    Column("rate", _("Labour rate per hour"), "own_labour_rate", price=True, currency_path="own_currency", phone=False),
    Column("currency", _("Currency"), "own_currency", price=True, html=False),
)


class MaintenanceSettingsListView(FilteredListView):
    """The provider's default limits and each customer's own (empty: inherits the default)."""

    required_capability = Capability.MANAGE_CONTRACTS
    selector = staticmethod(settings_list)
    filterset_class = approvals.MaintenanceSettingsFilterSet
    columns = SETTINGS_COLUMNS
    default_sort = "kind"
    title = _("Approval limits")
    csv_filename = "approval-limits"
    detail_url_name = "maintenance:approval_settings_edit"


class MaintenanceSettingsEditView(PortalMixin, FormView):
    required_capability = Capability.MANAGE_CONTRACTS
    form_class = MaintenanceSettingsForm
    template_name = "maintenance/approvals/settings_form.html"

    def get_organisation(self) -> Organisation:
        if not hasattr(self, "organisation"):
            organisation = (
                approvals.maintenance_settings_organisations(user=self.request.user)
                .filter(pk=self.kwargs["pk"])
                .first()
            )
            if organisation is None or not approvals.may_manage_settings(
                user=self.request.user, organisation=organisation
            ):
                raise Http404
            self.organisation = organisation
        return self.organisation

    def get_initial(self):
        organisation = self.get_organisation()
        if not _has_settings(organisation):
            return {}
        own = organisation.maintenance_settings
        return {
            "currency": own.currency,
            "not_to_exceed": own.not_to_exceed,
            "replace_review_above": own.replace_review_above,
            "labour_rate": own.labour_rate,
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        organisation = self.get_organisation()
        defaults = None
        if organisation.provider_id is not None:
            defaults = approvals.maintenance_settings_for(customer=organisation.provider)
        context.update(
            {
                "organisation": organisation,
                "defaults": defaults,
                "title": _("Approval limits of %(name)s") % {"name": organisation.name},
            }
        )
        return context

    def form_valid(self, form):
        try:
            approvals.maintenance_settings_update(
                organisation=self.get_organisation(), by=self.request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The approval limits were saved."))
        return redirect(reverse("maintenance:approval_settings"))


def _has_settings(organisation: Organisation) -> bool:
    try:
        organisation.maintenance_settings  # noqa: B018 - a reverse one-to-one raises when there is no row
    except Organisation.maintenance_settings.RelatedObjectDoesNotExist:
        return False
    return True


urlpatterns = [
    path("approvals/", ApprovalListView.as_view(), name="approval_list"),
    path("approvals/limits/", MaintenanceSettingsListView.as_view(), name="approval_settings"),
    path("approvals/limits/<int:pk>/", MaintenanceSettingsEditView.as_view(), name="approval_settings_edit"),
    path("work-orders/<int:pk>/estimate/", WorkOrderEstimateView.as_view(), name="work_order_estimate"),
    path("work-orders/<int:pk>/approval/", WorkOrderApprovalDecideView.as_view(), name="work_order_approval_decide"),
    path(
        "work-orders/<int:pk>/replacement/",
        WorkOrderConvertReplacementView.as_view(),
        name="work_order_convert_replacement",
    ),
]
