"""Portal pages of contracts: the list (CSV), one contract's page, and the forms that change contracts; and billing:
invoices (list, page, documents, credit notes, payments), receivables and billing runs.

Who may open them (``contracts.selectors``): a contract's page needs a role that sees prices and the contract
visible to the user (else a 404: another tenant's contract, or a role that sees no prices); the list shows those
contracts, and is empty for roles that see no prices (as the project's other lists are for rows a role does not
see). The forms and buttons need ``MANAGE_CONTRACTS`` on the provider's side (provider admins; account managers
for their customers): everyone else gets a 404. Every write goes through ``contracts.services``; a
``ValidationError`` comes back as the form's field messages (buttons: as messages on the contract's page). The
billing pages follow the same rules (see "Billing" below).
"""

import csv
import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.forms import CheckboxInput, Form
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.models import Organisation
from accounts.roles import Capability
from assets.models import Asset, Site
from contracts import billing, receivables, selectors, services
from contracts.choices import (
    CONTRACT_TRANSITIONS,
    METERED_KINDS,
    AllowanceScope,
    BillingRunStatus,
    ComponentKind,
    ContractStatus,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    PaymentStatus,
    RunItemStatus,
    TaxCategory,
    TierMode,
)
from contracts.formats import lines_by_site_and_contract, quantity_format, unit_name
from contracts.forms import (
    TERMS_FIELDS,
    AmendmentForm,
    BillingRunStartForm,
    BillingSettingsForm,
    ComponentForm,
    ContractTermsForm,
    ContractTransitionForm,
    CoverageAddForm,
    CoverageEndForm,
    CreditNoteForm,
    PaymentForm,
    PaymentImportForm,
)
from contracts.models import (
    AuditEntry,
    BillingRun,
    Contract,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    InvoiceLineAsset,
    PriceComponent,
    Receivable,
)
from fleet.money import money_format, rate_format
from fleet.tables import Column, csv_cell, csv_response
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from telemetry.choices import Meter
from telemetry.usage import CounterSource

AUDIT_SHOWN = 50
KIND_ORDER = {kind: position for position, kind in enumerate(ComponentKind.values)}  # the page lists by kind

CONTRACT_COLUMNS = (
    Column("number", _("Number"), "number", sort="number", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("title", _("Title"), "title", sort="title"),
    Column("status", _("Status"), "status", sort="status", choices=dict(ContractStatus.choices)),
    Column("start_date", _("Start"), "start_date", sort="start_date"),
    Column("end_date", _("End"), "end_date", sort="end_date", phone=False),
    Column("currency", _("Currency"), "currency", sort="currency", phone=False),
    Column("covered_assets", _("Covered assets now"), "covered_assets", sort="covered_assets", phone=False),
    Column(
        "monthly_fixed_fees",
        _("Monthly fixed fees now"),
        "monthly_fixed_fees",
        sort="monthly_fixed_fees",
        price=True,
        currency_path="currency",
    ),
)

TRANSITION_LABELS = {
    ContractStatus.ACTIVE: _("Activate"),
    ContractStatus.SUSPENDED: _("Suspend"),
    ContractStatus.ENDED: _("End the contract"),
}
TRANSITION_MESSAGES = {
    ContractStatus.ACTIVE: _("The contract is active."),
    ContractStatus.SUSPENDED: _("The contract is suspended."),
    ContractStatus.ENDED: _("The contract has ended."),
}


# --- Shared ------------------------------------------------------------------------------------------------------


class ContractPortalMixin(PortalMixin):
    """Signed-in users whose role sees contracts (``selectors.sees_contracts``); a 404 for the others."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not selectors.sees_contracts(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class ManageContractMixin(PortalMixin):
    """Provider staff who manage contracts (``MANAGE_CONTRACTS``, ``selectors.may_manage_contracts``), on a
    contract they see (``pk`` in the URL, when there is one); a 404 for everyone else. With
    ``open_contract_required``, an ended contract sends the user back to its page with ``services.ENDED_CONTRACT``."""

    required_capability = Capability.MANAGE_CONTRACTS
    open_contract_required = True

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            if not selectors.may_manage_contracts(request.user):
                raise Http404
            if "pk" in self.kwargs and self.open_contract_required and self.contract.status == ContractStatus.ENDED:
                messages.error(request, services.ENDED_CONTRACT)
                return redirect("contracts:contract_detail", pk=self.contract.pk)
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def contract(self) -> Contract:
        return get_object_or_404(selectors.contract_detail(user=self.request.user), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "pk" in self.kwargs:
            context["contract"] = self.contract
        return context


def show_service_errors(error: ValidationError, *forms: Form) -> None:
    """Put a service's ``ValidationError`` on the forms: each message on the first form that has a field for its
    name (``form.error_field``), the rest on the first form as a whole."""
    if not hasattr(error, "error_dict"):
        forms[0].add_error(None, error.messages)
        return
    for name, errors in error.message_dict.items():
        for form in forms:
            target = form.error_field(name)
            if target is not None:
                form.add_error(target, errors)
                break
        else:
            forms[0].add_error(None, errors)


# --- List --------------------------------------------------------------------------------------------------------


class ContractListView(FilteredListView):
    """The contracts the user sees (none for roles that see no prices), with what each covers and its monthly
    fixed fees today; CSV."""

    selector = staticmethod(selectors.contract_list)
    filterset_class = selectors.ContractFilterSet
    columns = CONTRACT_COLUMNS
    default_sort = "-start_date"
    title = _("Contracts")
    csv_filename = "contracts"
    detail_url_name = "contracts:contract_detail"
    create_url_name = "contracts:contract_create"

    def _may_create(self) -> bool:
        return selectors.may_manage_contracts(self.request.user)


# --- Detail ------------------------------------------------------------------------------------------------------


@dataclass
class ComponentRow:
    """A price component as the contract's page shows it: what it charges, in words and amounts."""

    component: PriceComponent
    price: str
    details: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)


def component_row(component: PriceComponent, currency: str) -> ComponentRow:
    """The page's view of ``component`` (tiers read from its prefetched ``tiers``)."""
    kind = component.kind
    details = []
    if kind == ComponentKind.SAVING_SHARE:
        price = _("%(percent)s%% of the saving") % {"percent": number_format(component.share_percent or 0)}
    elif kind in METERED_KINDS:
        price = _("%(rate)s per unit") % {"rate": rate_format(component.amount, currency)}
        details.append(f"{capfirst(component._meta.get_field('meter').verbose_name)}: {component.get_meter_display()}")
        if component.allowance:
            details.append(
                _("%(units)s units a month included (%(scope)s)")
                % {
                    "units": number_format(component.allowance.normalize(), use_l10n=True, force_grouping=True),
                    "scope": component.get_allowance_scope_display(),
                }
            )
    elif kind == ComponentKind.ONE_OFF:
        price = money_format(component.amount, currency)
    else:
        price = _("%(amount)s a month") % {"amount": money_format(component.amount, currency)}
    if kind == ComponentKind.ASSET_FEE:
        details.append(_("per covered asset"))
    if component.minimum_charge:
        details.append(_("minimum %(amount)s a month") % {"amount": money_format(component.minimum_charge, currency)})
    if component.outcome_target is not None:
        promised = (
            money_format(component.outcome_target, currency)
            if kind == ComponentKind.SAVING_SHARE
            else number_format(component.outcome_target.normalize(), use_l10n=True, force_grouping=True)
        )
        details.append(_("promised: %(outcome)s a month") % {"outcome": promised})
    tiers = [
        _("from %(units)s units: %(rate)s per unit")
        % {
            "units": number_format(tier.from_units.normalize(), use_l10n=True, force_grouping=True),
            "rate": rate_format(tier.rate, currency),
        }
        for tier in component.tiers.all()
    ]
    if tiers:
        details.append(component.get_tier_mode_display())
    return ComponentRow(component=component, price=price, details=details, tiers=tiers)


@dataclass
class AuditChange:
    """One field of an audit entry as the page shows it."""

    label: str
    before: str
    after: str


def _field_label(model, name: str) -> str:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    if model_field.is_relation and not model_field.concrete:
        return capfirst(model_field.related_model._meta.verbose_name_plural)
    return capfirst(model_field.verbose_name)


def _value_text(model, name: str, value) -> str:
    """A recorded value as the page shows it: "—" for none, a choice's label, a date in the active locale."""
    if value is None or value == "":
        return "—"
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return str(value)
    if model_field.get_internal_type() == "DateField":
        try:
            return date_format(datetime.date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except (TypeError, ValueError):
            return str(value)
    choices = dict(getattr(model_field, "choices", None) or ())
    return str(choices.get(value, value))


def audit_changes(entry: AuditEntry) -> list[AuditChange]:
    """An entry's changes as (field label, before, after) in the order of ``services.AUDITED_FIELDS``, with choice
    values as their labels and dates in the active locale; a change that reads the same both sides (nothing to
    an empty text) is left out."""
    model = entry.content_type.model_class()
    if model is None:
        return [AuditChange(name, str(before), str(after)) for name, (before, after) in entry.changes.items()]
    order = {name: position for position, name in enumerate(services.AUDITED_FIELDS.get(model, ()))}
    changes = []
    for name in sorted(entry.changes, key=lambda name: (order.get(name, len(order)), name)):
        before, after = entry.changes[name]
        before_text, after_text = _value_text(model, name, before), _value_text(model, name, after)
        if before_text != after_text:
            changes.append(AuditChange(_field_label(model, name), before_text, after_text))
    return changes


class ContractDetailView(ContractPortalMixin, TenantDetailView):
    """One contract: its terms, its price components and covered assets (current and past), its amendments and
    the latest ``AUDIT_SHOWN`` changes; for users who manage contracts, the buttons and links to change it."""

    selector = staticmethod(selectors.contract_list)
    template_name = "contracts/contract_detail.html"
    context_object_name = "contract"

    def get_queryset(self):
        return super().get_queryset().select_related("provider", "service_level")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contract, user = self.object, self.request.user
        today = timezone.localdate()
        components = sorted(
            selectors.component_list(user=user).filter(contract=contract).order_by("valid_from", "pk"),
            key=lambda component: KIND_ORDER.get(component.kind, len(KIND_ORDER)),
        )
        rows = [component_row(component, contract.currency) for component in components]
        coverage = list(
            selectors.coverage_list(user=user).filter(contract=contract).order_by("-start_date", "asset__serial_number")
        )
        audit = list(selectors.audit_list(user=user).filter(contract=contract)[: AUDIT_SHOWN + 1])
        manages = selectors.may_manage_contracts(user)
        may_manage = manages and contract.status != ContractStatus.ENDED
        context.update(
            {
                "today": today,
                "current_components": [row for row in rows if not _past(row.component.valid_to, today)],
                "past_components": [row for row in rows if _past(row.component.valid_to, today)],
                "current_coverage": [link for link in coverage if not _past(link.end_date, today)],
                "past_coverage": [link for link in coverage if _past(link.end_date, today)],
                "amendments": list(selectors.amendment_list(user=user).filter(contract=contract).order_by("-number")),
                "audit": [(entry, audit_changes(entry)) for entry in audit[:AUDIT_SHOWN]],
                "audit_capped": len(audit) > AUDIT_SHOWN,
                "audit_shown": AUDIT_SHOWN,
                "may_manage": may_manage,
                "may_end_coverage": manages,
                "transitions": [(status, TRANSITION_LABELS[status]) for status in CONTRACT_TRANSITIONS[contract.status]]
                if manages
                else [],
            }
        )
        return context


def _past(last_day: datetime.date | None, today: datetime.date) -> bool:
    return last_day is not None and last_day < today


# --- Forms -------------------------------------------------------------------------------------------------------


class ContractCreateView(ManageContractMixin, FormView):
    """A draft contract for one of the customers the user manages."""

    template_name = "contracts/contract_form.html"
    form_class = ContractTermsForm
    extra_context = {"title": _("New contract")}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        data = form.service_arguments()
        try:
            contract = services.contract_create(by=self.request.user, **data)
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("Contract %(number)s was created.") % {"number": contract.number})
        return redirect("contracts:contract_detail", pk=contract.pk)


class ContractEditView(ManageContractMixin, FormView):
    """The terms of a contract that has not ended (the currency while it is a draft)."""

    template_name = "contracts/contract_form.html"
    form_class = ContractTermsForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "contract": self.contract}

    def get_initial(self):
        return {name: getattr(self.contract, name) for name in TERMS_FIELDS}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Terms of %(number)s") % {"number": self.contract.number}
        return context

    def form_valid(self, form):
        try:
            services.contract_update(contract=self.contract, by=self.request.user, **form.service_arguments())
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("The terms were saved."))
        return redirect("contracts:contract_detail", pk=self.contract.pk)


class ContractTransitionView(ManageContractMixin, View):
    """A POST that activates, suspends or ends the contract; errors come back as messages on its page."""

    open_contract_required = False  # the service explains why an ended contract does not move

    def post(self, request, pk: int):
        contract = self.contract
        form = ContractTransitionForm(request.POST)
        if form.is_valid():
            to = form.cleaned_data["to"]
            try:
                services.contract_transition(
                    contract=contract, to=to, by=request.user, end_date=form.cleaned_data["end_date"]
                )
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(request, TRANSITION_MESSAGES[to])
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        return redirect("contracts:contract_detail", pk=contract.pk)


class ComponentAddView(ManageContractMixin, FormView):
    """A price component of the contract, with up to four tiers."""

    template_name = "contracts/component_form.html"
    form_class = ComponentForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("New price component of %(number)s") % {"number": self.contract.number}
        return context

    def form_valid(self, form):
        try:
            component = services.component_add(contract=self.contract, by=self.request.user, **form.service_arguments())
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("The price component %(name)s was added.") % {"name": component.name})
        return redirect("contracts:contract_detail", pk=self.contract.pk)


class CoverageAddView(ManageContractMixin, FormView):
    """Cover one more asset of the contract's customer."""

    template_name = "contracts/coverage_form.html"
    form_class = CoverageAddForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "contract": self.contract}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Cover an asset under %(number)s") % {"number": self.contract.number}
        return context

    def form_valid(self, form):
        try:
            link = services.coverage_add(contract=self.contract, by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("%(asset)s is covered from %(date)s.")
            % {"asset": link.asset, "date": date_format(link.start_date, "SHORT_DATE_FORMAT")},
        )
        return redirect("contracts:contract_detail", pk=self.contract.pk)


class CoverageEndView(ManageContractMixin, View):
    """A POST that ends one coverage of the contract (``coverage``: its id) on ``end_date``; errors come back as
    messages on the contract's page. Allowed on an ended contract too (coverage left open when it ended)."""

    open_contract_required = False

    def post(self, request, pk: int):
        contract = self.contract
        form = CoverageEndForm(request.POST, user=request.user, contract=contract)
        if form.is_valid():
            coverage, end_date = form.cleaned_data["coverage"], form.cleaned_data["end_date"]
            try:
                services.coverage_end(coverage=coverage, end_date=end_date, by=request.user)
            except ValidationError as error:
                for message in error.messages:
                    messages.error(request, message)
            else:
                messages.success(
                    request,
                    _("%(asset)s is covered until %(date)s.")
                    % {"asset": coverage.asset, "date": date_format(end_date, "SHORT_DATE_FORMAT")},
                )
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        return redirect("contracts:contract_detail", pk=contract.pk)


class AmendmentCreateView(ManageContractMixin, FormView):
    """An amendment: components ended, one new component, assets added and coverages ended, all on one date."""

    template_name = "contracts/amendment_form.html"
    form_class = AmendmentForm
    component_prefix = "new"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "contract": self.contract}

    @cached_property
    def adding_component(self) -> bool:
        """Whether the POST asks to add the new component (the ``add_component`` box is ticked)."""
        return self.request.method == "POST" and CheckboxInput().value_from_datadict(
            self.request.POST, {}, "add_component"
        )

    @cached_property
    def component_form(self) -> ComponentForm:
        """The new component's form: bound only when the amendment adds it, so that it shows errors only then."""
        data = self.request.POST if self.adding_component else None
        return ComponentForm(data, prefix=self.component_prefix, with_validity=False)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Amend %(number)s") % {"number": self.contract.number}
        context["component_form"] = self.component_form
        return context

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        adding = self.adding_component
        form_valid = form.is_valid()
        if not form_valid or (adding and not self.component_form.is_valid()):
            return self.form_invalid(form)
        data = form.cleaned_data
        adds = []
        if adding:
            spec = self.component_form.service_arguments()
            spec.pop("valid_from", None)
            adds.append(spec)
        try:
            amendment = services.contract_amend(
                contract=self.contract,
                effective_date=data["effective_date"],
                description=data["description"],
                by=request.user,
                ends=list(data["ends"]),
                adds=adds,
                assets_in=list(data["assets_in"]),
                assets_out=list(data["assets_out"]),
            )
        except ValidationError as error:
            show_service_errors(error, *([form, self.component_form] if adding else [form]))
            return self.form_invalid(form)
        messages.success(request, _("Amendment %(number)s was recorded.") % {"number": amendment.number})
        return redirect("contracts:contract_detail", pk=self.contract.pk)


# --- Billing -----------------------------------------------------------------------------------------------------
#
# Who may open them (``contracts.selectors``, "Billing"): invoices need a role that sees prices and the invoice
# visible to the user (customer admins: their own finalised documents only); the list is empty for everyone else
# and a page is a 404. Billing runs, and every button that changes an invoice, need ``DRAFT_INVOICES`` on the
# provider's side (provider admins; account managers for their customers); everyone else gets a 404. Finalising a
# whole run, and importing a bank statement, need the whole provider in view (provider admins). PDFs and XML are
# served only here (attachments), rendered on demand when a finalised invoice has none yet; a draft has none.

INVOICE_COLUMNS = (
    Column("number", _("Number"), "number_or_draft", sort="number", link=True),
    Column("kind", _("Kind"), "kind", sort="kind", choices=dict(InvoiceKind.choices), phone=False),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("period", _("Period"), "period_label", sort="period_start"),
    Column("currency", _("Currency"), "currency", sort="currency", phone=False),
    Column("net_total", _("Net"), "net_total", sort="net_total", price=True, currency_path="currency", phone=False),
    Column("tax_total", _("Tax"), "tax_total", sort="tax_total", price=True, currency_path="currency", phone=False),
    Column("total", _("Total"), "total", sort="total", price=True, currency_path="currency"),
    Column("status", _("Status"), "status", sort="status", choices=dict(InvoiceStatus.choices)),
    Column(
        "payment_status",
        _("Payment"),
        "payment_status",
        sort="payment_status",
        choices=dict(PaymentStatus.choices),
    ),
    Column(
        "outstanding",
        _("Outstanding"),
        "due_amount",
        sort="due_amount",
        price=True,
        currency_path="currency",
        phone=False,
    ),
    Column("due_date", _("Due date"), "due_date", sort="due_date"),
)

INVOICE_LINE_COLUMNS = (
    Column("position", _("Line"), "position"),
    Column("site", _("Site"), "site__name"),
    Column("contract", _("Contract"), "contract__number"),
    Column("kind", _("Kind"), "kind", choices=dict(LineKind.choices)),
    Column("description", _("Description"), "description"),
    Column("service_start", _("Service from"), "service_start"),
    Column("service_end", _("Service until"), "service_end"),
    Column("quantity", _("Quantity"), "quantity"),
    Column("unit", _("Unit"), "unit"),
    Column("unit_price", _("Unit price"), "unit_price"),
    Column("amount", _("Amount"), "amount"),
    Column("currency", _("Currency"), "invoice__currency"),
    Column("tax_category", _("Tax category"), "tax_category", choices=dict(TaxCategory.choices)),
)

BILLING_RUN_COLUMNS = (
    Column("period", _("Period"), "period_label", sort="period", link=True),
    Column("status", _("Status"), "status", sort="status", choices=dict(BillingRunStatus.choices)),
    Column("items_total", _("Customers"), "items_total", sort="items_total"),
    Column("items_done", _("Drafted"), "items_done", sort="items_done"),
    Column("items_failed", _("Failed"), "items_failed", sort="items_failed"),
    Column("items_pending", _("Pending"), "items_pending", sort="items_pending", phone=False),
    Column("invoices_count", _("Invoices"), "invoices_count", sort="invoices_count"),
    Column("drafts_count", _("Drafts in review"), "drafts_count", sort="drafts_count", phone=False),
    Column("started_at", _("Started"), "started_at", sort="started_at", phone=False),
)

RUN_INVOICES_SHOWN = 50
RUN_ACTIVE_STATES = (BillingRunStatus.RUNNING, BillingRunStatus.FINALISING)

EVENT_ACTIONS = {
    "drafted": _("Drafted"),
    "redrafted": _("Drafted again"),
    "finalised": pgettext_lazy("invoice event", "Finalised"),
    "emailed": _("E-mailed"),
    "credit_note_drafted": _("Credit note drafted"),
    "payment_recorded": _("Payment recorded"),
    "reminder_sent": _("Payment reminder sent"),
}
EVENT_FIELDS = {
    "total": _("Total"),
    "number": _("Number"),
    "recipients": _("Recipients"),
    "credit_note_total": _("Credit note total"),
    "corrects": _("Corrects invoice"),
    "amount": _("Amount"),
    "paid_on": _("Paid on"),
    "source": _("Source"),
    "outstanding": _("Outstanding"),
    "status": _("Payment"),
    "reference": _("Reference"),
    "bank_transaction_id": _("Bank transaction"),
    "reminders_sent": _("Reminders sent"),
}
COUNTER_SOURCES = {
    CounterSource.FROZEN: _("frozen on the last invoice"),
    CounterSource.READING: _("a reading"),
    CounterSource.INTERPOLATED: _("interpolated between readings"),
    CounterSource.EXTRAPOLATED: _("extrapolated from the recent rate"),
}


@dataclass
class AssetRow:
    """One asset behind a line: its counters (how each was obtained), usage, allowance and overage."""

    detail: InvoiceLineAsset
    asset: Asset
    meter: str
    start: str
    end: str
    start_source: str
    end_source: str
    start_frozen: bool
    end_frozen: bool
    usage: str
    allowance: str
    overage: str


@dataclass
class LineRow:
    """A line as the invoice's page shows it, with its drill-down: the facts of its rating and its assets."""

    line: InvoiceLine
    quantity: str
    unit: str
    unit_price: str
    facts: list[tuple[str, str]]
    assets: list[AssetRow]


@dataclass
class ContractGroup:
    contract: Contract | None
    lines: list[LineRow] = field(default_factory=list)


@dataclass
class SiteGroup:
    site: Site | None
    contracts: list[ContractGroup] = field(default_factory=list)


@dataclass
class EventRow:
    event: InvoiceEvent
    action: str
    changes: list[AuditChange]


def _money_text(value, currency: str) -> str:
    try:
        return money_format(Decimal(str(value)), currency)
    except (ArithmeticError, ValueError, TypeError):
        return str(value)


def line_facts(line: InvoiceLine, currency: str, serials: dict[int, str] | None = None) -> list[tuple[str, str]]:
    """What the line's ``detail`` (``contracts.rating``) says, as (label, text) in a fixed order: proration days,
    fees, usage, allowance, overage, price band, minimum charge, saving share, service credits (assets below the
    uptime target by their serial numbers in ``serials``, else by id), the work order and the line a credit note
    credits. Keys the page does not know are listed as they are stored."""
    serials = serials or {}
    detail = dict(line.detail or {})
    facts: list[tuple[str, str]] = []

    def take(key: str, label, text=None) -> None:
        if key in detail:
            value = detail.pop(key)
            if value not in (None, "", []):
                facts.append((str(label), str(text(value) if text else value)))

    if "days" in detail and "period_days" in detail:
        days = {"days": detail.pop("days"), "period_days": detail.pop("period_days")}
        facts.append((str(_("Days billed")), str(_("%(days)s of %(period_days)s days") % days)))
    take("monthly", _("Monthly price"), lambda value: rate_format(Decimal(value), currency))
    take("assets", _("Assets"))
    take("asset_days", _("Asset-days"))
    take("meter", _("Meter"), lambda value: dict(Meter.choices).get(value, value))
    take("usage", _("Usage"), quantity_format)
    scope = detail.pop("allowance_scope", "")
    take(
        "allowance",
        _("Allowance"),
        lambda value: (
            f"{quantity_format(value)} ({dict(AllowanceScope.choices).get(scope, scope)})"
            if scope
            else quantity_format(value)
        ),
    )
    take("overage", _("Overage"), quantity_format)
    band_from, band_to = detail.pop("band_from", None), detail.pop("band_to", None)
    if band_from is not None and detail.get("tier_mode"):  # without tiers, the one band is the whole overage
        start = quantity_format(band_from)
        if band_to is None:
            band = _("from %(start)s units") % {"start": start}
        else:
            band = _("from %(start)s to %(end)s units") % {"start": start, "end": quantity_format(band_to)}
        facts.append((str(_("Price band")), str(band)))
    take("tier_mode", _("Tiers"), lambda value: dict(TierMode.choices).get(value, value))
    take("minimum", _("Minimum charge"), lambda value: _money_text(value, currency))
    take("charged", _("Charged before the top-up"), lambda value: _money_text(value, currency))
    take("baseline", _("Baseline cost"), lambda value: _money_text(value, currency))
    take("charges", _("Charges of the contract"), lambda value: _money_text(value, currency))
    take("saving", _("Measured saving"), lambda value: _money_text(value, currency))
    take("share_percent", _("Share of the saving"), lambda value: f"{quantity_format(value)}%")
    take("breaches", _("Service level breaches"))
    take("breached_work_orders", _("Work orders past their due time"), lambda value: ", ".join(map(str, value)))
    take(
        "assets_below_uptime",
        _("Assets below the uptime target"),
        lambda value: ", ".join(serials.get(asset_id, f"#{asset_id}") for asset_id in value),
    )
    take("percent_per_breach", _("Credit per breach"), lambda value: f"{quantity_format(value)}%")
    take("cap_percent", _("Credit cap"), lambda value: f"{quantity_format(value)}%")
    take("percent", _("Credit"), lambda value: f"{quantity_format(value)}%")
    take("fees", _("Fees credited against"), lambda value: _money_text(value, currency))
    take("work_order", _("Work order"))
    detail.pop("credits_line", None)
    take("credits_position", _("Credits line"), lambda value: f"#{value}")
    for key in sorted(detail):
        facts.append((key, str(detail[key])))
    return facts


def _asset_row(detail: InvoiceLineAsset, pooled: bool) -> AssetRow:
    """An asset of a line; under a pooled allowance the allowance and overage are the contract's, not the asset's."""
    metered = bool(detail.meter)
    return AssetRow(
        detail=detail,
        asset=detail.asset,
        meter=str(detail.get_meter_display()) if metered else "",
        start=quantity_format(detail.start_value),
        end=quantity_format(detail.end_value),
        start_source=str(COUNTER_SOURCES.get(detail.start_source, detail.start_source)),
        end_source=str(COUNTER_SOURCES.get(detail.end_source, detail.end_source)),
        start_frozen=detail.start_source == CounterSource.FROZEN,
        end_frozen=detail.end_source == CounterSource.FROZEN,
        usage=quantity_format(detail.usage) if metered else "",
        allowance=str(_("pooled")) if metered and pooled else quantity_format(detail.allowance) if metered else "",
        overage="" if pooled else quantity_format(detail.overage) if metered else "",
    )


def line_groups(invoice: Invoice) -> list[SiteGroup]:
    """The invoice's lines by site (the contract-wide ones first), then by contract, in line order, each with its
    drill-down; read from the prefetched lines and assets (``selectors.invoice_detail``), and one query for the
    serial numbers of assets that service credits name, when a line names some."""
    below_target = {
        asset_id for line in invoice.lines.all() for asset_id in (line.detail or {}).get("assets_below_uptime", [])
    }
    serials = dict(Asset.objects.filter(pk__in=below_target).values_list("pk", "serial_number")) if below_target else {}
    return [
        SiteGroup(
            site=site[0][0].site,
            contracts=[
                ContractGroup(
                    contract=lines[0].contract, lines=[_line_row(line, invoice.currency, serials) for line in lines]
                )
                for lines in site
            ],
        )
        for site in lines_by_site_and_contract(invoice.lines.all())
    ]


def _line_row(line: InvoiceLine, currency: str, serials: dict[int, str]) -> LineRow:
    pooled = (line.detail or {}).get("allowance_scope") == AllowanceScope.POOLED
    return LineRow(
        line=line,
        quantity=quantity_format(line.quantity),
        unit=unit_name(line.unit, line.quantity),
        unit_price=rate_format(line.unit_price, currency),
        facts=line_facts(line, currency, serials),
        assets=[_asset_row(detail, pooled=pooled) for detail in line.assets.all()],
    )


def event_rows(invoice: Invoice) -> list[EventRow]:
    """The invoice's audit trail, newest first: action, who, when, and each change as before → after."""
    rows = []
    for event in invoice.events.all():
        changes = []
        for name, values in (event.changes or {}).items():
            before, after = (values + [None, None])[:2] if isinstance(values, list) else (None, values)
            changes.append(
                AuditChange(
                    str(EVENT_FIELDS.get(name, name)),
                    "—" if before in (None, "") else str(before),
                    "—" if after in (None, "") else str(after),
                )
            )
        rows.append(EventRow(event=event, action=str(EVENT_ACTIONS.get(event.action, event.action)), changes=changes))
    return rows


def party_view(snapshot: dict) -> dict:
    """A party of the invoice as frozen on it: name, address lines, registration number."""
    locality = " ".join(part for part in (snapshot.get("postal_code"), snapshot.get("city")) if part)
    lines = [
        snapshot.get("address_line1"),
        snapshot.get("address_line2"),
        ", ".join(part for part in (locality, snapshot.get("region")) if part),
        snapshot.get("country"),
    ]
    return {
        "name": snapshot.get("name") or "",
        "lines": [line for line in lines if line],
        "registration": (snapshot.get("tax_registration_number") or "").strip(),
    }


def _receivable(invoice: Invoice) -> Receivable | None:
    try:
        return invoice.receivable
    except Receivable.DoesNotExist:
        return None


def _is_creditable(invoice: Invoice) -> bool:
    return invoice.is_final and invoice.kind == InvoiceKind.INVOICE


class DraftInvoicesMixin(PortalMixin):
    """Provider staff with ``DRAFT_INVOICES`` (``selectors.may_draft_invoices``); a 404 for everyone else."""

    required_capability = Capability.DRAFT_INVOICES

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not selectors.may_draft_invoices(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class InvoiceWriteMixin(DraftInvoicesMixin):
    """``DraftInvoicesMixin`` on one invoice the user sees (``pk``): another tenant's invoice is a 404."""

    @cached_property
    def invoice(self) -> Invoice:
        return get_object_or_404(selectors.invoice_detail(user=self.request.user), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["invoice"] = self.invoice
        return context

    def back(self):
        return redirect("contracts:invoice_detail", pk=self.invoice.pk)


def _messages_of(request, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


# --- Invoices ----------------------------------------------------------------------------------------------------


class InvoiceListView(FilteredListView):
    """The invoices and credit notes the user sees (none for roles that see no prices; customer admins: their
    finalised ones), with totals and payment; filters, sorting, CSV."""

    selector = staticmethod(selectors.invoice_list)
    filterset_class = selectors.InvoiceFilterSet
    columns = INVOICE_COLUMNS
    default_sort = "-period"
    title = _("Invoices")
    csv_filename = "invoices"
    detail_url_name = "contracts:invoice_detail"


class InvoiceDetailView(ContractPortalMixin, TenantDetailView):
    """One invoice or credit note: parties, dates and totals with tax per rate; the lines by site and contract,
    each with its rating and per-asset detail; the audit trail, credit notes, receivable and payments; and for
    staff who draft invoices, the buttons that finalise, correct and record payments."""

    selector = staticmethod(selectors.invoice_detail)
    template_name = "contracts/invoice_detail.html"
    context_object_name = "invoice"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice, user = self.object, self.request.user
        drafts = selectors.may_draft_invoices(user)
        receivable = _receivable(invoice)
        context.update(
            {
                "parties": [(_("Seller"), party_view(invoice.seller)), (_("Buyer"), party_view(invoice.buyer))],
                "may_open_run": drafts,
                "groups": line_groups(invoice),
                "taxes": list(invoice.taxes.all()),
                "events": event_rows(invoice),
                "credit_notes": list(invoice.credit_notes.all()),
                "receivable": receivable,
                "payments": list(invoice.payments.all()),
                "may_finalise": drafts and not invoice.is_final,
                "may_credit": drafts and _is_creditable(invoice),
                "may_discard": drafts and invoice.is_credit_note and not invoice.is_final,
                "may_record_payment": drafts
                and _is_creditable(invoice)
                and invoice.due_amount is not None
                and invoice.due_amount > 0,
            }
        )
        return context


class InvoiceFinaliseView(InvoiceWriteMixin, TemplateView):
    """GET: what finalising the draft does; POST: finalise it (numbered, dated, frozen, e-mailed to the customer)."""

    template_name = "contracts/invoice_finalise.html"

    def post(self, request, pk: int):
        invoice = self.invoice
        if invoice.is_final:
            messages.info(request, _("%(number)s is finalised already.") % {"number": invoice.number})
            return self.back()
        try:
            final = billing.finalise_invoice(invoice_id=invoice.pk, by=request.user)
        except ValidationError as error:
            _messages_of(request, error)
        else:
            messages.success(request, _("%(number)s was finalised.") % {"number": final.number})
        return self.back()


class InvoiceDocumentView(ContractPortalMixin, View):
    """A finalised invoice's PDF or e-invoice XML as an attachment named after its number, rendered on demand
    when it has none yet (``contracts.billing.invoice_documents``). A draft has no documents: 404."""

    document = "pdf"
    content_types = {"pdf": "application/pdf", "xml": "application/xml"}

    def get(self, request, pk: int):
        invoice = get_object_or_404(selectors.invoice_queryset(user=request.user), pk=pk)
        return invoice_document_response(invoice, self.document)


def invoice_document_response(invoice: Invoice, document: str) -> FileResponse:
    """The stored PDF or XML of a finalised invoice (rendered first when missing), as an attachment."""
    if not invoice.is_final:
        raise Http404
    if not (invoice.pdf and invoice.xml):
        billing.invoice_documents(invoice)
    stored = invoice.pdf if document == "pdf" else invoice.xml
    return FileResponse(
        stored.open("rb"),
        as_attachment=True,
        filename=f"{invoice.number}.{document}",
        content_type=InvoiceDocumentView.content_types[document],
    )


class InvoiceLinesCsvView(ContractPortalMixin, View):
    """The invoice's lines as CSV (amounts as stored, with the currency)."""

    def get(self, request, pk: int):
        invoice = get_object_or_404(selectors.invoice_queryset(user=request.user), pk=pk)
        lines = selectors.invoice_line_list(user=request.user).filter(invoice=invoice).order_by("position")
        name = invoice.number or f"draft-{invoice.pk}"
        return csv_response(lines, list(INVOICE_LINE_COLUMNS), f"{name}-lines")


class CreditNoteCreateView(InvoiceWriteMixin, FormView):
    """A draft credit note of a finalised invoice: an amount per line (at most what is left) and the reason."""

    template_name = "contracts/credit_note_form.html"
    form_class = CreditNoteForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and selectors.may_draft_invoices(request.user):
            if not _is_creditable(self.invoice):
                messages.error(request, selectors.NOT_CREDITABLE)
                return self.back()
            if not any(amount > 0 for amount in self.left.values()):
                messages.error(request, selectors.NOTHING_LEFT_TO_CREDIT)
                return self.back()
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def left(self) -> dict[int, Decimal]:
        return selectors.invoice_credit_left(self.invoice)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "invoice": self.invoice, "left": self.left}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Credit note for %(number)s") % {"number": self.invoice.number}
        context["reason_fields"] = [context["form"]["reason"]]
        return context

    def form_valid(self, form):
        try:
            note = billing.credit_note_create(
                invoice=self.invoice,
                lines=form.cleaned_data["lines"],
                reason=form.cleaned_data["reason"],
                by=self.request.user,
            )
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("A draft credit note was created: check it, then finalise it to issue it."))
        return redirect("contracts:invoice_detail", pk=note.pk)


class CreditNoteDiscardView(InvoiceWriteMixin, TemplateView):
    """GET: confirm; POST: discard a draft credit note (``contracts.billing.draft_delete``)."""

    template_name = "contracts/credit_note_discard.html"
    extra_context = {"only_draft_credit_notes": selectors.ONLY_DRAFT_CREDIT_NOTES}

    def post(self, request, pk: int):
        invoice = self.invoice
        if not (invoice.is_credit_note and not invoice.is_final):
            messages.error(request, selectors.ONLY_DRAFT_CREDIT_NOTES)
            return self.back()
        corrects = invoice.corrects_id
        try:
            billing.draft_delete(invoice=invoice, by=request.user)
        except ValidationError as error:
            _messages_of(request, error)
            return self.back()
        messages.success(request, _("The draft credit note was discarded."))
        return redirect("contracts:invoice_detail", pk=corrects)


class PaymentRecordView(InvoiceWriteMixin, FormView):
    """Money received against a finalised invoice (``contracts.receivables.record_payment``)."""

    template_name = "contracts/payment_form.html"
    form_class = PaymentForm

    def dispatch(self, request, *args, **kwargs):
        if (
            request.user.is_authenticated
            and selectors.may_draft_invoices(request.user)
            and not _is_creditable(self.invoice)
        ):
            messages.error(request, selectors.NOT_A_RECEIVABLE)
            return self.back()
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = _("Record a payment of %(number)s") % {"number": self.invoice.number}
        return context

    def form_valid(self, form):
        try:
            payment = receivables.record_payment(invoice=self.invoice, by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("A payment of %(amount)s was recorded.")
            % {"amount": money_format(payment.amount, self.invoice.currency)},
        )
        return self.back()


# --- Receivables -------------------------------------------------------------------------------------------------


class ReceivablesAgeingView(PortalMixin, TemplateView):
    """What the customers the user sees owe, by days past due, per customer and currency; CSV."""

    template_name = "contracts/receivables_ageing.html"
    buckets = (
        ("not_due", _("Not yet due")),
        ("days_1_30", _("1-30 days")),
        ("days_31_60", _("31-60 days")),
        ("days_61_90", _("61-90 days")),
        ("over_90", _("Over 90 days")),
        ("total", _("Total")),
    )

    def get(self, request, *args, **kwargs):
        today = timezone.localdate()
        rows = selectors.receivables_ageing(user=request.user, today=today)
        if request.GET.get("format") == "csv":
            return self._csv(rows)
        context = self.get_context_data(
            rows=[(row, [getattr(row, name) for name, _label in self.buckets]) for row in rows],
            buckets=self.buckets,
            today=today,
            may_import=selectors.bills_every_customer(request.user),
        )
        return self.render_to_response(context)

    def _csv(self, rows) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="receivables-ageing.csv"'
        response.write("\ufeff")
        writer = csv.writer(response)
        writer.writerow([str(_("Customer")), str(_("Currency")), *(str(label) for _name, label in self.buckets)])
        for row in rows:
            writer.writerow(
                [csv_cell(row.customer_name), row.currency, *(csv_cell(getattr(row, name)) for name, _ in self.buckets)]
            )
        return response


class PaymentImportView(DraftInvoicesMixin, FormView):
    """A bank statement's payments, recorded against the invoices their references name; the report per row.
    Staff who bill every customer only (the statement pays any customer's invoice)."""

    template_name = "contracts/payment_import.html"
    form_class = PaymentImportForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not selectors.bills_every_customer(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        provider = Organisation.objects.get(pk=self.access.provider_id)
        try:
            report = receivables.import_bank_csv(
                provider=provider, file=form.cleaned_data["file"], by=self.request.user
            )
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        labels = dict(receivables.ImportRowStatus.choices)
        return self.render_to_response(
            self.get_context_data(
                form=PaymentImportForm(),
                report=report,
                counts=[(labels[status], count) for status, count in report.counts.items()],
                statuses=labels,
            )
        )


# --- Billing runs ------------------------------------------------------------------------------------------------


class BillingRunListView(DraftInvoicesMixin, FilteredListView):
    """The provider's billing runs (an account manager: those of their customers), with the progress of each,
    and the form that starts one."""

    template_name = "contracts/billing_run_list.html"
    selector = staticmethod(selectors.billing_run_list)
    filterset_class = selectors.BillingRunFilterSet
    columns = BILLING_RUN_COLUMNS
    default_sort = "-period"
    title = _("Billing runs")
    csv_filename = "billing-runs"
    detail_url_name = "contracts:billing_run_detail"

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and not self.request.headers.get("HX-Boosted"):
            return ["portal/list.html#results"]
        return [self.template_name]

    def get_sort(self, columns):
        sort, ordering = super().get_sort(columns)
        if ordering and ordering[0].lstrip("-") == "period":  # the period is the year, then the month
            prefix = "-" if ordering[0].startswith("-") else ""
            ordering = [f"{prefix}year", f"{prefix}month", f"{prefix}pk"]
        return sort, ordering

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["start_form"] = BillingRunStartForm(user=self.request.user)
        context["may_change_settings"] = selectors.bills_every_customer(self.request.user)
        return context


class BillingRunStartView(DraftInvoicesMixin, FormView):
    """Start (or start again) the provider's run of an ended month; its customers are drafted in the background."""

    template_name = "contracts/billing_run_start.html"
    form_class = BillingRunStartForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        year, month = form.cleaned_data["period"]
        provider = Organisation.objects.get(pk=self.access.provider_id)
        try:
            run = billing.billing_run_start(
                provider=provider,
                year=year,
                month=month,
                by=self.request.user,
                finalize=form.cleaned_data.get("finalize", False),
                customer_ids=selectors.billing_customer_ids(user=self.request.user),
            )
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("The run of %(period)s has started.") % {"period": run.period})
        return redirect("contracts:billing_run_detail", pk=run.pk)


class BillingRunDetailView(DraftInvoicesMixin, TenantDetailView):
    """One run: its progress (refreshed while it drafts or finalises), the customers that failed with why, its
    invoices, and the button that finalises its drafts."""

    selector = staticmethod(selectors.billing_run_detail)
    template_name = "contracts/billing_run_detail.html"
    context_object_name = "run"
    with_invoices = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run, user = self.object, self.request.user
        context.update(
            {
                "running": run.status in RUN_ACTIVE_STATES,
                "failed_items": list(
                    selectors.billing_run_items(user=user, run=run).filter(status=RunItemStatus.FAILED)
                ),
                "may_finalise": run.status == BillingRunStatus.DRAFTED and run.drafts_count > 0,
            }
        )
        if self.with_invoices:
            invoices = list(
                selectors.invoice_list(user=user)
                .filter(run=run)
                .order_by("customer__name", "currency", "pk")[: RUN_INVOICES_SHOWN + 1]
            )
            context["invoices"] = invoices[:RUN_INVOICES_SHOWN]
            context["invoices_capped"] = len(invoices) > RUN_INVOICES_SHOWN
        return context


class BillingRunProgressView(BillingRunDetailView):
    """The progress block of a run's page, for htmx to poll; once the run has stopped moving, the whole page is
    reloaded (``HX-Refresh``) so that its invoices show."""

    template_name = "contracts/billing_run_detail.html#progress"
    with_invoices = False

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        if self.request.headers.get("HX-Request") and not context["running"]:
            response["HX-Refresh"] = "true"
        return response


class BillingRunFinaliseView(DraftInvoicesMixin, TemplateView):
    """GET: how many drafts finalising the run numbers and e-mails; POST: finalise them. Staff who bill every
    customer finalise the whole run (in the background); an account manager finalises their customers' drafts."""

    template_name = "contracts/billing_run_finalise.html"

    @cached_property
    def run(self) -> BillingRun:
        return get_object_or_404(selectors.billing_run_detail(user=self.request.user), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["run"] = self.run
        context["in_review"] = self.run.status == BillingRunStatus.DRAFTED
        context["not_in_review"] = (
            billing.RUN_NOT_IN_REVIEW if not context["in_review"] else _("The run has no drafts left to finalise.")
        )
        return context

    def post(self, request, pk: int):
        run = self.run
        try:
            count = billing.billing_run_finalise_drafts(
                run=run, by=request.user, customer_ids=selectors.billing_customer_ids(user=request.user)
            )
        except ValidationError as error:
            _messages_of(request, error)
            return redirect("contracts:billing_run_detail", pk=run.pk)
        if count is None:
            messages.success(request, _("The drafts of %(period)s are being finalised.") % {"period": run.period})
        else:
            messages.success(
                request,
                ngettext("%(count)s invoice was finalised.", "%(count)s invoices were finalised.", count)
                % {"count": count},
            )
        return redirect("contracts:billing_run_detail", pk=run.pk)


class BillingSettingsView(DraftInvoicesMixin, FormView):
    """The provider's billing settings (tax rounding, review period, reminders, payment instructions): staff who
    bill every customer only."""

    template_name = "contracts/billing_settings.html"
    form_class = BillingSettingsForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not selectors.bills_every_customer(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        current = billing.billing_settings(self.access.provider_id)
        return {name: getattr(current, name) for name in billing.BILLING_SETTINGS_FIELDS}

    def form_valid(self, form):
        provider = Organisation.objects.get(pk=self.access.provider_id)
        try:
            billing.billing_settings_update(provider=provider, by=self.request.user, **form.cleaned_data)
        except ValidationError as error:
            show_service_errors(error, form)
            return self.form_invalid(form)
        messages.success(self.request, _("The billing settings were saved."))
        return redirect("contracts:billing_settings")
