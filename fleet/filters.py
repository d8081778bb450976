"""The FilterSet base every list uses: one ``q`` parameter searched across the list's fields."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fleet.tenancy import access_for

# A select never renders more options than this; larger choice lists narrow to a parent filter's value.
MAX_RENDERED_CHOICES = 150


class SearchFilterSet(django_filters.FilterSet):
    """A FilterSet with one ``q`` parameter searched (case-insensitively) across ``search_fields``.

    ``narrowed_by`` maps a model-choice filter to the filter that narrows what its select shows, e.g.
    ``{"site": "customer"}``: a provider with thousands of sites shows the sites of the chosen customer
    only. The narrowing changes what the page's form renders, never what it accepts: ``?site=<id>``
    without a customer still filters (the API relies on it).
    """

    search_fields: tuple[str, ...] = ()
    narrowed_by: dict[str, str] = {}
    provider_only_filters: tuple[str, ...] = ()  # left out for customer users, who see one organisation
    q = django_filters.CharFilter(method="filter_q", label=_("Search"), max_length=100)

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        access = access_for(request.user) if request is not None else None
        if access is not None and not access.is_provider_staff:
            for name in self.provider_only_filters:
                self.filters.pop(name, None)

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value})
        return queryset.filter(condition)

    def narrow_choices(self) -> None:
        """Limit what large selects render (called by pages, which render the form; the API does not)."""
        for name, parent in self.narrowed_by.items():
            if name in self.filters and parent in self.filters:
                self._narrow_choices(self.form, name, parent)

    def _narrow_choices(self, form, name: str, parent: str) -> None:
        field = form.fields[name]
        queryset = field.queryset
        parent_value = (self.data or {}).get(parent)
        if parent_value and str(parent_value).isdigit():
            shown = queryset.filter(**{parent: parent_value})
        else:
            shown = queryset[: MAX_RENDERED_CHOICES + 1]
            if len(shown) > MAX_RENDERED_CHOICES:
                selected = (self.data or {}).get(name)
                shown = queryset.filter(pk=selected) if selected and str(selected).isdigit() else queryset.none()
                field.help_text = _("Choose a %(parent)s first.") % {"parent": form.fields[parent].label}
        field.widget.choices = [("", field.empty_label), *((obj.pk, field.label_from_instance(obj)) for obj in shown)]
