"""Portal pages of contracts: the list (CSV), one contract's page, and the forms that change contracts.

Who may open them (``contracts.selectors``): a contract's page needs a role that sees prices and the contract
visible to the user (else a 404: another tenant's contract, or a role that sees no prices); the list shows those
contracts, and is empty for roles that see no prices (as the project's other lists are for rows a role does not
see). The forms and buttons need ``MANAGE_CONTRACTS`` on the provider's side (provider admins; account managers
for their customers): everyone else gets a 404. Every write goes through ``contracts.services``; a
``ValidationError`` comes back as the form's field messages (buttons: as messages on the contract's page).
"""

import datetime
from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.forms import CheckboxInput, Form
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from accounts.roles import Capability
from contracts import selectors, services
from contracts.choices import CONTRACT_TRANSITIONS, METERED_KINDS, ComponentKind, ContractStatus
from contracts.forms import (
    TERMS_FIELDS,
    AmendmentForm,
    ComponentForm,
    ContractTermsForm,
    ContractTransitionForm,
    CoverageAddForm,
    CoverageEndForm,
)
from contracts.models import AuditEntry, Contract, PriceComponent
from fleet.money import SYMBOLS, Currency, minor_units, money_format
from fleet.tables import Column
from fleet.views import FilteredListView, PortalMixin, TenantDetailView

AUDIT_SHOWN = 50
KIND_ORDER = {kind: position for position, kind in enumerate(ComponentKind.values)}  # the page lists by kind
RATE_MAX_PLACES = 4  # PriceComponent.amount and PriceTier.rate keep four decimal places

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


def rate_format(amount, currency: str) -> str:
    """A rate per unit in its currency, with the decimals it has (at least the currency's minor unit, at most
    four), e.g. "¥0.85" or "$0.0125"; amounts are not rounded beyond the four places the model keeps."""
    if amount is None:
        return ""
    exponent = amount.normalize().as_tuple().exponent
    places = min(max(minor_units(currency), -exponent if isinstance(exponent, int) else 0), RATE_MAX_PLACES)
    text = number_format(abs(amount), decimal_pos=places, use_l10n=True, force_grouping=True)
    return f"{'-' if amount < 0 else ''}{SYMBOLS.get(Currency(currency), currency + ' ')}{text}"


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
