"""API ordering that pages stably: the primary key breaks ties of the requested order."""

from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    """``?ordering=site__name`` pages without repeating or skipping rows that share a site name."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("pk", "id") for term in ordering):
            descending = bool(ordering) and ordering[-1].startswith("-")
            ordering.append("-pk" if descending else "pk")
        return ordering
