"""Forms of the contracts pages: the terms, a price component with its tiers, coverage, status moves, amendments.

The forms only read and check input; the views hand ``cleaned_data`` to ``contracts.services``, which validate
again and write. Field labels and help texts come from the models (``fields_for_model``). Choices of customers,
service levels, assets, components and coverages are limited to what the user sees through
``contracts.selectors``.
"""

import datetime
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms.models import fields_for_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from assets.models import Asset
from contracts import selectors
from contracts.billing import BILLING_SETTINGS_FIELDS, NOTHING_TO_CREDIT, OVER_CREDITED, parse_period
from contracts.choices import ContractStatus
from contracts.models import BillingSettings, Contract, ContractAsset, Invoice, Payment, PriceComponent
from fleet.filters import MAX_RENDERED_CHOICES
from fleet.money import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, Currency, minor_units, money_format

TIER_ROWS = 4

TERMS_FIELDS = (
    "title",
    "start_date",
    "end_date",
    "currency",
    "billing_day",
    "payment_terms_days",
    "auto_renew",
    "renewal_months",
    "notice_days",
    "service_level",
    "credit_percent_per_breach",
    "credit_cap_percent",
    "baseline_monthly_cost",
    "notes",
)
COMPONENT_FIELDS = (
    "kind",
    "name",
    "amount",
    "meter",
    "allowance",
    "allowance_scope",
    "tier_mode",
    "minimum_charge",
    "share_percent",
    "outcome_target",
    "charge_date",
    "tax_category",
    "valid_from",
    "valid_to",
)
# Component fields the form may leave empty: the model's default applies (valid_from: the contract's start).
COMPONENT_DEFAULTED = ("amount", "allowance", "minimum_charge", "valid_from")

TIER_INCOMPLETE = _("Enter both the units the tier starts from and its rate.")
ASSET_NOT_FOUND = _("No asset of this customer has the serial number or asset tag %(value)s.")
ASSET_AMBIGUOUS = _("Several assets have the serial number or asset tag %(value)s: use the asset tag.")
END_DATE_ONLY_WHEN_ENDING = _("An end date is given only when the contract ends.")


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _model_fields(model, names, **kwargs) -> dict[str, forms.Field]:
    """Form fields of ``model`` for ``names`` (labels and help texts from the model), dates as date inputs."""
    date_names = [name for name in names if model._meta.get_field(name).get_internal_type() == "DateField"]
    widgets = {name: _date_widget() for name in date_names}
    widgets.update(kwargs.pop("widgets", {}))
    return fields_for_model(model, fields=names, widgets=widgets, **kwargs)


def _asset_label(asset: Asset) -> str:
    return f"{asset.serial_number} · {asset.asset_model.name} · {asset.site.name}"


class AssetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _asset_label(obj)


class AssetMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return _asset_label(obj)


class AssetByNumberField(forms.CharField):
    """Assets of ``queryset`` typed as serial numbers or asset tags (separated by spaces, commas or lines), for
    customers with too many assets to list: one asset, or a list of them when ``multiple``."""

    def __init__(self, *, queryset: QuerySet[Asset], multiple: bool, **kwargs):
        self.queryset = queryset
        self.multiple = multiple
        kwargs.setdefault("max_length", 4000 if multiple else 64)
        if multiple:
            kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(**kwargs)

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if self.multiple:
            tokens = list(dict.fromkeys(token for token in re.split(r"[\s,]+", text) if token))
        else:
            tokens = [text] if text else []
        if not tokens:
            return [] if self.multiple else None
        matches: dict[str, list[Asset]] = {token: [] for token in tokens}
        for asset in self.queryset.filter(Q(serial_number__in=tokens) | Q(asset_tag__in=tokens)):
            for token in {asset.serial_number, asset.asset_tag} & set(tokens):
                matches[token].append(asset)
        errors = []
        for token, assets in matches.items():
            if not assets:
                errors.append(ValidationError(ASSET_NOT_FOUND, params={"value": token}))
            elif len(assets) > 1:
                errors.append(ValidationError(ASSET_AMBIGUOUS, params={"value": token}))
        if errors:
            raise ValidationError(errors)
        assets = list(dict.fromkeys(matches[token][0] for token in tokens))
        return assets if self.multiple else assets[0]


def asset_field(queryset: QuerySet[Asset], *, multiple: bool, **kwargs) -> forms.Field:
    """A select (checkboxes when ``multiple``) of ``queryset`` when it has at most ``MAX_RENDERED_CHOICES``
    assets; else a text field for serial numbers or asset tags. Reads at most that many assets plus one."""
    shown = list(queryset[: MAX_RENDERED_CHOICES + 1])
    if len(shown) > MAX_RENDERED_CHOICES:
        help_text = (
            _("Too many assets to list: enter their serial numbers or asset tags, separated by spaces.")
            if multiple
            else _("Too many assets to list: enter the serial number or asset tag.")
        )
        return AssetByNumberField(queryset=queryset, multiple=multiple, help_text=help_text, **kwargs)
    if multiple:
        field = AssetMultipleChoiceField(queryset=queryset, widget=forms.CheckboxSelectMultiple, **kwargs)
        field.widget.choices = [(asset.pk, _asset_label(asset)) for asset in shown]
        return field
    field = AssetChoiceField(queryset=queryset, **kwargs)
    field.widget.choices = [("", field.empty_label), *((asset.pk, _asset_label(asset)) for asset in shown)]
    return field


class ServiceErrorsMixin:
    """Where a service's ``ValidationError`` on a name is shown: that field when the form has it."""

    def error_field(self, name: str) -> str | None:
        """The field of this form a service error on ``name`` belongs to (None: the form as a whole)."""
        return name if name in self.fields else None


# --- Contract ----------------------------------------------------------------------------------------------------


class ContractTermsForm(ServiceErrorsMixin, forms.Form):
    """The terms of a contract (``TERMS_FIELDS``). ``contract`` given: its terms, the currency only while it is
    a draft; else a new contract, for one of ``contract_customers(user)``, in the customer's currency unless one
    is chosen. Service levels: the provider's defaults the user sees, and on an existing contract its customer's
    own (a new contract's customer is not known until the form is sent)."""

    def __init__(self, *args, user: User, contract: Contract | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.contract = contract
        if contract is None:
            self.fields["customer"] = forms.ModelChoiceField(
                label=_("Customer"), queryset=selectors.contract_customers(user=user)
            )
        self.fields.update(_model_fields(Contract, TERMS_FIELDS))
        self.fields["notes"].widget.attrs["rows"] = 3
        currency = self.fields["currency"]
        if contract is None:
            currency.required = False
            currency.choices = [("", _("The customer's currency")), *Currency.choices]
            currency.initial = ""
        elif contract.status != ContractStatus.DRAFT:
            del self.fields["currency"]
        if contract is not None:
            levels = selectors.contract_service_levels(user=user, customer_id=contract.customer_id)
        else:
            levels = selectors.contract_service_levels(user=user).filter(customer__isnull=True)
        self.fields["service_level"].queryset = levels

    def service_arguments(self) -> dict:
        """``cleaned_data`` as ``contract_create``/``contract_update`` take it (no empty currency)."""
        data = dict(self.cleaned_data)
        if not data.get("currency"):
            data.pop("currency", None)
        return data


class ContractTransitionForm(forms.Form):
    to = forms.ChoiceField(choices=ContractStatus.choices)
    end_date = forms.DateField(label=_("Last day"), required=False, widget=_date_widget())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("end_date") is not None and cleaned.get("to") != ContractStatus.ENDED:
            self.add_error("end_date", END_DATE_ONLY_WHEN_ENDING)
        return cleaned


# --- Price components --------------------------------------------------------------------------------------------


class ComponentForm(ServiceErrorsMixin, forms.Form):
    """A price component (``COMPONENT_FIELDS``) and up to ``TIER_ROWS`` tiers (from units, rate); a tier row
    left empty is ignored. ``with_validity=False`` leaves out ``valid_from`` (an amendment's effective date)."""

    def __init__(self, *args, with_validity: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        names = COMPONENT_FIELDS if with_validity else tuple(n for n in COMPONENT_FIELDS if n != "valid_from")
        self.fields.update(_model_fields(PriceComponent, names))
        for name in COMPONENT_DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False
        for row in range(1, TIER_ROWS + 1):
            self.fields[f"tier_{row}_from"] = forms.DecimalField(
                label=_("Tier %(row)s: from units") % {"row": row},
                required=False,
                min_value=0,
                max_digits=16,
                decimal_places=3,
            )
            self.fields[f"tier_{row}_rate"] = forms.DecimalField(
                label=_("Tier %(row)s: rate per unit") % {"row": row},
                required=False,
                min_value=0,
                max_digits=16,
                decimal_places=4,
            )

    @property
    def tier_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        """The tier fields by row, for the template."""
        return [(self[f"tier_{row}_from"], self[f"tier_{row}_rate"]) for row in range(1, TIER_ROWS + 1)]

    @property
    def component_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in COMPONENT_FIELDS if name in self.fields]

    def clean(self):
        cleaned = super().clean()
        tiers = []
        for row in range(1, TIER_ROWS + 1):
            start, rate = cleaned.get(f"tier_{row}_from"), cleaned.get(f"tier_{row}_rate")
            if start is None and rate is None:
                continue
            if start is None or rate is None:
                self.add_error(f"tier_{row}_from" if start is None else f"tier_{row}_rate", TIER_INCOMPLETE)
                continue
            tiers.append((start, rate))
        cleaned["tiers"] = tiers
        return cleaned

    def service_arguments(self) -> dict:
        """``cleaned_data`` as ``component_add`` takes it: the component's fields (empty defaulted fields left
        out) and ``tiers``."""
        data = {name: self.cleaned_data.get(name) for name in COMPONENT_FIELDS if name in self.fields}
        for name in COMPONENT_DEFAULTED:
            if data.get(name) is None:
                data.pop(name, None)
        data["tiers"] = self.cleaned_data.get("tiers", [])
        return data

    def error_field(self, name: str) -> str | None:
        """Tier errors go to the first tier row; the rest as ``ServiceErrorsMixin``."""
        if name == "tiers":
            return "tier_1_from"
        return super().error_field(name)


# --- Coverage ----------------------------------------------------------------------------------------------------


def _covered_open(contract: Contract) -> QuerySet:
    """Assets whose coverage by ``contract`` has no end: they cannot join it again."""
    return ContractAsset.objects.filter(contract=contract, end_date__isnull=True).values("asset_id")


def _default_start(contract: Contract) -> datetime.date:
    return max(contract.start_date, timezone.localdate())


class CoverageAddForm(ServiceErrorsMixin, forms.Form):
    """An asset of the contract's customer (one the user sees, in service, not covered without an end) and the
    dates it is covered."""

    def __init__(self, *args, user: User, contract: Contract, **kwargs):
        super().__init__(*args, **kwargs)
        assets = selectors.coverable_assets(user=user, contract=contract).exclude(pk__in=_covered_open(contract))
        self.fields["asset"] = asset_field(assets, multiple=False, label=_("Asset"))
        self.fields["start_date"] = forms.DateField(
            label=_("Covered from"), initial=_default_start(contract), widget=_date_widget()
        )
        self.fields["end_date"] = forms.DateField(label=_("Covered until"), required=False, widget=_date_widget())


class CoverageEndForm(forms.Form):
    """One coverage of the contract (among those the user sees) and the last day it covers the asset."""

    end_date = forms.DateField(label=_("Last covered day"), widget=_date_widget())

    def __init__(self, *args, user: User, contract: Contract, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coverage"] = forms.ModelChoiceField(
            label=_("Covered asset"),
            queryset=selectors.coverage_list(user=user).filter(contract=contract),
            widget=forms.HiddenInput,
        )


# --- Amendments --------------------------------------------------------------------------------------------------


class ComponentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.get_kind_display()}"


class CoverageChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return _asset_label(obj.asset)


class AmendmentForm(ServiceErrorsMixin, forms.Form):
    """An amendment: its effective date and description, the components it ends (those not ended yet), the
    assets it adds and the coverages it ends (those without an end). ``add_component`` says whether the
    amendment also starts the one component of the accompanying ``ComponentForm``."""

    effective_date = forms.DateField(label=_("Effective from"), widget=_date_widget())
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}))
    add_component = forms.BooleanField(label=_("Add a new price component (below)"), required=False)

    def __init__(self, *args, user: User, contract: Contract, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["effective_date"].initial = _default_start(contract)
        components = (
            selectors.component_list(user=user)
            .filter(contract=contract)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
            .prefetch_related(None)
            .order_by("valid_from", "pk")
        )
        self.fields["ends"] = ComponentChoiceField(
            label=_("End these price components (the day before)"),
            queryset=components,
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )
        assets = selectors.coverable_assets(user=user, contract=contract).exclude(pk__in=_covered_open(contract))
        self.fields["assets_in"] = asset_field(assets, multiple=True, label=_("Add these assets"), required=False)
        coverages = selectors.coverage_list(user=user).filter(contract=contract, end_date__isnull=True).order_by("pk")
        self.fields["assets_out"] = CoverageChoiceField(
            label=_("Stop covering these assets (the day before)"),
            queryset=coverages,
            required=False,
            widget=forms.CheckboxSelectMultiple,
        )

    def error_field(self, name: str) -> str | None:
        """Errors of the coverage and component services on the amendment's own fields (an added asset's
        ``asset`` on ``assets_in``, dates outside the contract on ``effective_date``); the rest as
        ``ServiceErrorsMixin``."""
        renamed = {"asset": "assets_in", "start_date": "effective_date", "valid_from": "effective_date"}
        return super().error_field(renamed.get(name, name))


# --- Billing -----------------------------------------------------------------------------------------------------


class BillingRunStartForm(ServiceErrorsMixin, forms.Form):
    """The month to bill (YYYY-MM, an ended month: the service checks) and, for staff who bill every customer,
    whether the run finalises its invoices as soon as they are drafted."""

    period = forms.CharField(
        label=_("Period"), max_length=7, help_text=_("The month to bill, as YYYY-MM (for example 2025-11).")
    )
    finalize = forms.BooleanField(
        label=_("Finalise the invoices as soon as they are drafted (no review)"), required=False
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        last_month = timezone.localdate().replace(day=1) - datetime.timedelta(days=1)
        self.fields["period"].initial = f"{last_month:%Y-%m}"
        if not selectors.bills_every_customer(user):
            del self.fields["finalize"]

    def clean_period(self) -> tuple[int, int]:
        try:
            return parse_period(self.cleaned_data["period"])
        except ValidationError as error:
            raise ValidationError(error.message_dict["period"]) from None


class CreditNoteForm(ServiceErrorsMixin, forms.Form):
    """A credit note of a finalised invoice: for each line with something left to credit, the net amount to
    credit (empty: none; at most what is left, in the currency's minor units), and the reason."""

    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, invoice: Invoice, left: dict[int, Decimal], **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        self.left = left
        places = minor_units(invoice.currency)
        self.lines = [line for line in invoice.lines.all() if left.get(line.pk, Decimal(0)) > 0]
        for line in self.lines:
            self.fields[self.line_field(line.pk)] = forms.DecimalField(
                label=f"{line.position}. {line.description}",
                required=False,
                min_value=Decimal(0),
                max_digits=MONEY_MAX_DIGITS,
                decimal_places=places,
                help_text=_("At most %(left)s") % {"left": money_format(left[line.pk], invoice.currency)},
            )

    @staticmethod
    def line_field(line_id: int) -> str:
        return f"line_{line_id}"

    @property
    def line_fields(self) -> list[forms.BoundField]:
        return [self[self.line_field(line.pk)] for line in self.lines]

    def clean(self):
        cleaned = super().clean()
        chosen = {}
        for line in self.lines:
            name = self.line_field(line.pk)
            amount = cleaned.get(name)
            if not amount:
                continue
            if amount > self.left[line.pk]:
                self.add_error(name, OVER_CREDITED % {"left": money_format(self.left[line.pk], self.invoice.currency)})
                continue
            chosen[line.pk] = amount
        if not chosen and not self.errors:
            self.add_error(None, NOTHING_TO_CREDIT)
        cleaned["lines"] = chosen
        return cleaned

    def error_field(self, name: str) -> str | None:
        """The service's ``lines`` errors name no line: they go on the form as a whole."""
        return None if name == "lines" else super().error_field(name)


class PaymentForm(ServiceErrorsMixin, forms.Form):
    """Money received against a finalised invoice (``contracts.receivables.record_payment`` checks the amount
    against what is outstanding and the currency's minor units, and the date against today)."""

    amount = forms.DecimalField(label=_("Amount"), max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES)
    paid_on = forms.DateField(label=_("Paid on"), widget=_date_widget())
    reference = forms.CharField(
        label=_("Reference"), required=False, max_length=Payment._meta.get_field("reference").max_length
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["paid_on"].initial = timezone.localdate()


class PaymentImportForm(ServiceErrorsMixin, forms.Form):
    """A bank statement (CSV, UTF-8 or Shift_JIS) whose rows name the invoices they pay."""

    file = forms.FileField(
        label=_("Bank statement (CSV)"),
        help_text=_(
            "Columns transaction_id, date (YYYY-MM-DD), amount, currency, reference (holding the invoice number) "
            "and payer_name; Japanese headers are understood too."
        ),
    )


class BillingSettingsForm(ServiceErrorsMixin, forms.Form):
    """The provider's billing settings: tax rounding, review period, reminders, how to pay."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(_model_fields(BillingSettings, BILLING_SETTINGS_FIELDS))
        self.fields["payment_instructions"].widget.attrs["rows"] = 4
