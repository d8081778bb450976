"""The FilterSet base every list uses: one ``q`` parameter searched across the list's fields."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with one ``q`` parameter searched (case-insensitively) across ``search_fields``."""

    search_fields: tuple[str, ...] = ()
    q = django_filters.CharFilter(method="filter_q", label=_("Search"), max_length=100)

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)
