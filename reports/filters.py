"""The FilterSet of the cost ledger, shared by its page and the API."""

import django_filters
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation
from assets.models import Site
from fleet.filters import SearchFilterSet
from fleet.tenancy import visible
from reports.choices import CostCategory, CostView, ProposalStatus
from reports.models import AcquisitionSpend, CostEntry, CostRates, KpiSnapshot, ManualCost, Proposal


class CostEntryFilterSet(SearchFilterSet):
    """Ledger rows by month range (first days, YYYY-MM-DD), view, category, customer (provider staff), site, asset;
    ``q`` on the asset's serial number."""

    search_fields = ("asset__serial_number",)
    provider_only_filters = ("customer",)
    narrowed_by = {"site": "customer"}
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte", label=_("From month"))
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte", label=_("To month"))
    view = django_filters.ChoiceFilter(choices=CostView.choices, label=_("View"))
    category = django_filters.ChoiceFilter(choices=CostCategory.choices, label=_("Category"))
    customer = django_filters.ModelChoiceFilter(queryset=visible(Organisation.objects.customers()), label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=visible(Site.objects.all()), label=_("Site"))
    asset = django_filters.NumberFilter(field_name="asset_id", label=_("Asset"))

    class Meta:
        model = CostEntry
        fields = ["month_from", "month_to", "view", "category", "customer", "site", "asset"]


class ProposalFilterSet(SearchFilterSet):
    """Proposals by customer and status; ``q`` on the customer's name."""

    search_fields = ("customer__name",)
    status = django_filters.ChoiceFilter(choices=ProposalStatus.choices, label=_("Status"))
    customer = django_filters.ModelChoiceFilter(queryset=visible(Organisation.objects.customers()), label=_("Customer"))

    class Meta:
        model = Proposal
        fields = ["status", "customer"]


class CostRatesFilterSet(SearchFilterSet):
    """Cost rates by customer; ``q`` on the customer's or site's name."""

    search_fields = ("customer__name", "site__name")
    customer = django_filters.ModelChoiceFilter(queryset=visible(Organisation.objects.customers()), label=_("Customer"))

    class Meta:
        model = CostRates
        fields = ["customer"]


class ManualCostFilterSet(SearchFilterSet):
    """Costs entered by hand by month range, customer (provider staff) and site; ``q`` on the description."""

    search_fields = ("description",)
    provider_only_filters = ("customer",)
    narrowed_by = {"site": "customer"}
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte", label=_("From month"))
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte", label=_("To month"))
    customer = django_filters.ModelChoiceFilter(queryset=visible(Organisation.objects.customers()), label=_("Customer"))
    site = django_filters.ModelChoiceFilter(queryset=visible(Site.objects.all()), label=_("Site"))

    class Meta:
        model = ManualCost
        fields = ["month_from", "month_to", "customer", "site"]


class AcquisitionSpendFilterSet(SearchFilterSet):
    """Acquisition spend by month range; ``q`` on the description."""

    search_fields = ("description",)
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte", label=_("From month"))
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte", label=_("To month"))

    class Meta:
        model = AcquisitionSpend
        fields = ["month_from", "month_to"]


class KpiSnapshotFilterSet(django_filters.FilterSet):
    """Snapshots by month range."""

    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte", label=_("From month"))
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte", label=_("To month"))

    class Meta:
        model = KpiSnapshot
        fields = ["month_from", "month_to"]
