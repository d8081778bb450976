"""Forms of reports: the TCO page's query (a GET form)."""

import datetime

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.models import Asset, Site
from fleet.money import Currency
from maintenance.plans import add_months
from reports.choices import BreakdownGroup, CostView
from reports.ledger import months_between
from reports.selectors import MAX_MONTHS, RANGE_TOO_LONG, may_see_cost_to_serve

MONTH_WIDGET = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


class BreakdownForm(forms.Form):
    """What the TCO page shows: a grouping, a range of months, a view (provider roles), a customer and a site."""

    group_by = forms.ChoiceField(label=_("Group by"), choices=BreakdownGroup.choices, initial=BreakdownGroup.CATEGORY)
    month_from = forms.DateField(label=_("From"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    month_to = forms.DateField(label=_("To"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    view = forms.ChoiceField(label=_("View"), choices=CostView.choices, initial=CostView.CUSTOMER, required=False)
    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Organisation.objects.none(), required=False, empty_label=_("All customers")
    )
    site = forms.ModelChoiceField(
        label=_("Site"), queryset=Site.objects.none(), required=False, empty_label=_("All sites")
    )

    def __init__(self, data, *, user, today: datetime.date, access):
        this_month = today.replace(day=1)
        defaults = {  # provider staff start from their customers, a customer's users from the categories
            "group_by": BreakdownGroup.CUSTOMER if access.is_provider_staff else BreakdownGroup.CATEGORY,
            "month_from": add_months(this_month, -11).strftime("%Y-%m"),
            "month_to": this_month.strftime("%Y-%m"),
            "view": CostView.CUSTOMER,
        }
        super().__init__({**defaults, **{key: value for key, value in data.items() if value}})
        customers = Organisation.objects.customers().visible_to(user).order_by("name")
        self.fields["customer"].queryset = customers
        sites = Site.objects.visible_to(user).select_related("customer").order_by("customer__name", "name")
        chosen = self.data.get("customer")
        if str(chosen).isdigit():
            self.fields["site"].queryset = sites.filter(customer_id=chosen)
        elif access.is_provider_staff:  # thousands of sites: a customer first
            self.fields["site"].help_text = _("Choose a customer first.")
        else:
            self.fields["site"].queryset = sites
        if not may_see_cost_to_serve(user):
            del self.fields["view"]
        if not access.is_provider_staff:
            del self.fields["customer"]


class ProposalRequestForm(forms.Form):
    """A proposal for a customer the user manages: the months analysed (default: the last twelve) and language."""

    customer = forms.ModelChoiceField(label=_("Customer"), queryset=Organisation.objects.none())
    month_from = forms.DateField(label=_("From"), input_formats=["%Y-%m"], widget=MONTH_WIDGET, required=False)
    month_to = forms.DateField(label=_("To"), input_formats=["%Y-%m"], widget=MONTH_WIDGET, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("The customer's")), *settings.LANGUAGES],
        required=False,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Organisation.objects.customers().visible_to(user).order_by("name")


class CostRatesForm(forms.Form):
    """The rates of the provider (no customer), a customer, or one of its sites."""

    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Organisation.objects.none(), required=False, empty_label=_("All customers")
    )
    site = forms.ModelChoiceField(
        label=_("Site"), queryset=Site.objects.none(), required=False, empty_label=_("All sites")
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices, initial=Currency.JPY)
    energy_price_per_kwh = forms.DecimalField(
        label=_("Energy price per kWh"), max_digits=10, decimal_places=4, min_value=0, required=False
    )
    downtime_cost_per_hour = forms.DecimalField(
        label=_("Downtime cost per hour"), max_digits=12, decimal_places=2, min_value=0, required=False
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = Organisation.objects.customers().visible_to(user).order_by("name")
        sites = Site.objects.visible_to(user).select_related("customer").order_by("customer__name", "name")
        chosen = (self.data or {}).get("customer") or (self.initial or {}).get("customer")
        chosen = getattr(chosen, "pk", chosen)
        self.fields["site"].queryset = sites.filter(customer_id=chosen) if str(chosen).isdigit() else sites.none()
        if not str(chosen).isdigit():
            self.fields["site"].help_text = _("Choose a customer first.")


class ManualCostForm(forms.Form):
    """A cost entered by hand: the customer, the month, what it was and, optionally, the site or asset (by serial)."""

    customer = forms.ModelChoiceField(label=_("Customer"), queryset=Organisation.objects.none())
    month = forms.DateField(label=_("Month"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    description = forms.CharField(label=_("Description"), max_length=200)
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices, initial=Currency.JPY)
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none(), required=False)
    serial_number = forms.CharField(label=_("Asset serial number"), max_length=64, required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["customer"].queryset = Organisation.objects.customers().visible_to(user).order_by("name")
        self.fields["site"].queryset = Site.objects.visible_to(user).order_by("name")

    def clean(self):
        cleaned = super().clean()
        serial, customer = cleaned.get("serial_number", "").strip(), cleaned.get("customer")
        cleaned["asset"] = None
        if serial and customer is not None:
            cleaned["asset"] = (
                Asset.objects.visible_to(self.user).filter(customer=customer, serial_number=serial).first()
            )
            if cleaned["asset"] is None:
                self.add_error("serial_number", _("The customer has no asset with this serial number."))
        return cleaned


class AcquisitionSpendForm(forms.Form):
    """What the provider spent in a month on winning customers."""

    month = forms.DateField(label=_("Month"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    description = forms.CharField(label=_("Description"), max_length=200)
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices, initial=Currency.JPY)


class NpsAnswerForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend us to a colleague or business partner?"),
        choices=[(value, str(value)) for value in range(11)],
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "scale"}),
        help_text=_("0: not at all likely, 10: extremely likely."),
    )
    comment = forms.CharField(
        label=_("What is the main reason for your score?"), widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000, required=False,
    )  # fmt: skip


class KpiRangeForm(forms.Form):
    """The months a KPI page covers (default: the twelve up to this one) and, for provider staff, a customer."""

    month_from = forms.DateField(label=_("From"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    month_to = forms.DateField(label=_("To"), input_formats=["%Y-%m"], widget=MONTH_WIDGET)
    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Organisation.objects.none(), required=False, empty_label=_("All customers")
    )

    def __init__(self, data, *, user, today: datetime.date):
        this_month = today.replace(day=1)
        defaults = {"month_from": f"{add_months(this_month, -11):%Y-%m}", "month_to": f"{this_month:%Y-%m}"}
        super().__init__({**defaults, **{key: value for key, value in data.items() if value}})
        self.fields["customer"].queryset = Organisation.objects.customers().visible_to(user).order_by("name")

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("month_from"), cleaned.get("month_to")
        if first and last and first > last:
            self.add_error("month_to", _("The first month must not be after the last."))
        elif first and last and months_between(first, last) >= MAX_MONTHS:
            self.add_error("month_to", RANGE_TOO_LONG % {"months": MAX_MONTHS})
        return cleaned
