"""FilterSets of accounts: organisations and members."""

import django_filters
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind, Role
from accounts.models import Membership, Organisation
from fleet.filters import SearchFilterSet


class OrganisationFilterSet(SearchFilterSet):
    search_fields = ("name", "code", "city")
    kind = django_filters.ChoiceFilter(choices=OrganisationKind.choices, label=_("Kind"))

    class Meta:
        model = Organisation
        fields = ["kind"]


class MembershipFilterSet(SearchFilterSet):
    search_fields = ("user__email", "user__first_name", "user__last_name")
    role = django_filters.ChoiceFilter(choices=Role.choices, label=_("Role"))

    class Meta:
        model = Membership
        fields = ["role"]
