"""Shared portal views: the list base every app's lists use, scoped detail views, the dashboard."""

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.views.generic import DetailView, TemplateView

from accounts.roles import Capability
from fleet.dashboard import dashboard_tiles
from fleet.tables import Column, csv_response, visible_columns
from fleet.tenancy import access_for


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


class PortalMixin(LoginRequiredMixin):
    """A signed-in user with a membership; ``required_capability`` (when set) must be in their role."""

    required_capability: Capability | None = None
    membership_required = True  # False: a signed-in user without access may open the page (self.access is None)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = access_for(request.user)
        if self.access is None and self.membership_required:
            raise PermissionDenied
        if self.required_capability is not None and (
            self.access is None or not self.access.can(self.required_capability)
        ):
            # Not found rather than forbidden: a page a role cannot use does not exist for it.
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class FilteredListView(PortalMixin, TemplateView):
    """A list page configured by attributes: selector, FilterSet, columns, sorting, pagination, CSV, htmx.

    ``?sort=key`` or ``?sort=-key`` sorts by a column, ``?per_page=`` picks the page size, ``?format=csv``
    exports every filtered row, and an htmx request gets only the results partial.
    """

    template_name = "portal/list.html"
    selector = None  # callable(user=...) -> scoped QuerySet
    filterset_class = None
    columns: tuple[Column, ...] = ()
    default_sort = ""
    title = ""
    csv_filename = "export"
    detail_url_name = ""  # URL name taking the row's pk, for link columns
    create_url_name = ""  # shown as a button when the user has ``create_capability``
    create_capability: Capability | None = None
    row_actions_template = ""  # rendered in a last column for each row, with ``obj``

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and not self.request.headers.get("HX-Boosted"):
            return [f"{self.template_name}#results"]
        return [self.template_name]

    def get_columns(self) -> list[Column]:
        return visible_columns(
            self.columns, sees_prices=self.access.sees_prices, is_provider_staff=self.access.is_provider_staff
        )

    def get_queryset(self):
        return type(self).selector(user=self.request.user)

    def get_sort(self, columns: list[Column]) -> tuple[str, list[str]]:
        sortable = {column.key: column.sort for column in columns if column.sort}
        requested = self.request.GET.get("sort", self.default_sort)
        key = requested.removeprefix("-")
        if key not in sortable:
            requested = self.default_sort
            key = requested.removeprefix("-")
        if key not in sortable:
            return "", ["pk"]
        prefix = "-" if requested.startswith("-") else ""
        return requested, [f"{prefix}{sortable[key]}", f"{prefix}pk"]

    def get(self, request, *args, **kwargs):
        columns = self.get_columns()
        filterset = self.filterset_class(request.GET or None, queryset=self.get_queryset(), request=request)
        queryset = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
        if filterset.is_bound and not filterset.is_valid():
            queryset = queryset.none()
        filterset.narrow_choices()
        sort, ordering = self.get_sort(columns)
        queryset = queryset.order_by(*ordering)
        if request.GET.get("format") == "csv":
            return csv_response(queryset, columns, self.csv_filename)
        paginator = Paginator(queryset, self.get_page_size())
        page = paginator.get_page(request.GET.get("page"))
        context = self.get_context_data(
            filterset=filterset,
            page_obj=page,
            columns=[column for column in columns if column.html],
            rows=[(obj, [column.cell(obj) for column in columns if column.html]) for obj in page.object_list],
            sort=sort,
            query=self._query_without("page"),
            query_without_sort=self._query_without("page", "sort"),
            title=self.title,
            filtered=any(value for name, value in request.GET.items() if name in filterset.filters),
            detail_url_name=self.detail_url_name,
            row_actions_template=self.row_actions_template,
            create_url_name=self.create_url_name if self._may_create() else "",
        )
        return self.render_to_response(context)

    def _may_create(self) -> bool:
        return bool(self.create_url_name) and (
            self.create_capability is None or self.access.can(self.create_capability)
        )

    def get_page_size(self) -> int:
        try:
            size = int(self.request.GET.get("per_page", settings.PORTAL_PAGE_SIZE))
        except ValueError:
            size = settings.PORTAL_PAGE_SIZE
        return max(1, min(size, settings.PORTAL_MAX_PAGE_SIZE))

    def _query_without(self, *names: str) -> str:
        params = self.request.GET.copy()
        for name in (*names, "format"):
            params.pop(name, None)
        return params.urlencode()


class TenantDetailView(PortalMixin, DetailView):
    """A detail page whose object is looked up through the scoped selector: another tenant's row is a 404."""

    selector = None

    def get_queryset(self):
        return type(self).selector(user=self.request.user)


class DashboardView(PortalMixin, TemplateView):
    """The landing page; a user without a membership is told to ask their administrator."""

    template_name = "portal/dashboard.html"
    membership_required = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tiles"] = dashboard_tiles(user=self.request.user) if self.access is not None else []
        return context
