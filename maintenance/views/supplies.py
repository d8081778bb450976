"""Portal pages of supply orders: the list (CSV), the page with its lifecycle buttons, and ordering by hand."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import FormView

from assets.choices import ASSET_IN_SERVICE_STATES, PartKind
from assets.models import Asset, PartType
from fleet.dashboard import Tile
from fleet.filters import MAX_RENDERED_CHOICES
from fleet.tables import Column
from fleet.tenancy import access_for
from fleet.views import FilteredListView, PortalMixin, TenantDetailView
from maintenance import supplies
from maintenance.choices import SupplyOrderSource, SupplyOrderStatus
from maintenance.models import SupplyOrder

SUPPLY_ORDER_COLUMNS = (
    Column("number", _("Number"), "number", sort="number", link=True),
    Column("customer", _("Customer"), "customer__name", sort="customer__name", provider_only=True),
    Column("site", _("Site"), "site__name", sort="site__name", phone=False),
    Column("asset", _("Asset"), "asset__serial_number", sort="asset__serial_number"),
    Column("part_code", _("Part code"), "part_type__code", sort="part_type__code", phone=False),
    Column("part", _("Part"), "part_type__name", sort="part_type__name"),
    Column("quantity", _("Quantity"), "quantity", sort="quantity", phone=False),
    Column("status", _("Status"), "status", sort="status", choices=dict(SupplyOrderStatus.choices)),
    Column("source", _("Source"), "source", sort="source", choices=dict(SupplyOrderSource.choices), phone=False),
    Column("needed_by", _("Needed by"), "needed_by", sort="needed_by"),
    Column("shipped_at", _("Shipped at"), "shipped_at", sort="shipped_at", phone=False),
    Column("tracking", _("Tracking number"), "tracking", phone=False),
    Column("created_at", _("Ordered at"), "created_at", sort="created_at", phone=False),
)
ASSET_PANEL_ORDER = 62
ASSET_PANEL_ROWS = 5


def _error_messages(request, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


class SupplyOrderListView(FilteredListView):
    selector = staticmethod(supplies.supply_order_list)
    filterset_class = supplies.SupplyOrderFilterSet
    columns = SUPPLY_ORDER_COLUMNS
    default_sort = "-created_at"
    title = _("Supply orders")
    csv_filename = "supply-orders"
    detail_url_name = "maintenance:supply_order_detail"
    create_url_name = "maintenance:supply_order_create"

    def _may_create(self) -> bool:
        return supplies.may_order_any(self.request.user)


class SupplyOrderDetailView(TenantDetailView):
    """One supply order, its dates and the lifecycle buttons the user may press."""

    selector = staticmethod(supplies.supply_order_list)
    template_name = "maintenance/supplies/supply_order_detail.html"
    context_object_name = "order"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["actions"] = supplies.supply_order_allowed_actions(order=self.object, user=self.request.user)
        return context


class SupplyOrderShipForm(forms.Form):
    tracking = forms.CharField(label=_("Tracking number"), max_length=100, required=False)


class SupplyOrderCancelForm(forms.Form):
    note = forms.CharField(label=_("Why is it cancelled?"), max_length=400)


class SupplyOrderActionView(PortalMixin, View):
    """A POST that moves one supply order on through a service; errors come back as messages."""

    form_class = forms.Form
    success_message = ""

    def perform(self, order: SupplyOrder, data: dict) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        order = get_object_or_404(supplies.supply_order_list(user=request.user), pk=pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                self.perform(order, form.cleaned_data)
            except ValidationError as error:
                _error_messages(request, error)
            else:
                messages.success(request, self.success_message)
        else:
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
        return redirect("maintenance:supply_order_detail", pk=order.pk)


class SupplyOrderShipView(SupplyOrderActionView):
    form_class = SupplyOrderShipForm
    success_message = _("The supply order was shipped.")

    def perform(self, order, data):
        supplies.supply_order_ship(order=order, by=self.request.user, tracking=data["tracking"])


class SupplyOrderDeliverView(SupplyOrderActionView):
    success_message = _("The delivery was confirmed.")

    def perform(self, order, data):
        supplies.supply_order_deliver(order=order, by=self.request.user)


class SupplyOrderCancelView(SupplyOrderActionView):
    form_class = SupplyOrderCancelForm
    success_message = _("The supply order was cancelled.")

    def perform(self, order, data):
        supplies.supply_order_cancel(order=order, by=self.request.user, note=data["note"])


class PartTypeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.code} · {obj.name}"


class AssetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.serial_number} · {obj.asset_model.name} · {obj.site.name}"


class SupplyOrderForm(forms.Form):
    """Order a consumable by hand for one asset the user may order for."""

    asset = AssetChoiceField(label=_("Asset"), queryset=Asset.objects.none())
    part_type = PartTypeChoiceField(label=_("Part"), queryset=PartType.objects.none())
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=99, initial=1)
    needed_by = forms.DateField(
        label=_("Needed by"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user, asset: Asset | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        assets = (
            Asset.objects.visible_to(user)
            .filter(status__in=ASSET_IN_SERVICE_STATES)
            .select_related("asset_model", "site")
            .order_by("serial_number", "pk")
        )
        access = access_for(user)
        if access is not None and not access.is_provider_staff:
            assets = assets.filter(customer_id=access.organisation_id)
        field = self.fields["asset"]
        field.queryset = assets
        if asset is not None:
            # Chosen on the asset's page: the select offers that asset and the parts that fit it.
            field.widget.choices = [(asset.pk, field.label_from_instance(asset))]
            self.fields["part_type"].queryset = supplies.supply_order_part_types(asset=asset)
        else:
            shown = list(assets[: MAX_RENDERED_CHOICES + 1])
            if len(shown) > MAX_RENDERED_CHOICES:
                shown = []
                field.help_text = _("Too many assets to list: open the asset's page and order from there.")
            field.widget.choices = [("", field.empty_label), *((a.pk, field.label_from_instance(a)) for a in shown)]
            self.fields["part_type"].queryset = PartType.objects.filter(
                kind=PartKind.CONSUMABLE, asset_models__assets__in=assets.values("pk")
            ).distinct()


class SupplyOrderCreateView(PortalMixin, FormView):
    """Order a consumable by hand; ``?asset=<id>`` (the asset page's button) preselects the asset."""

    template_name = "maintenance/supplies/supply_order_form.html"
    form_class = SupplyOrderForm
    extra_context = {"title": _("Order supplies")}

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not supplies.may_order_any(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    @cached_property
    def chosen_asset(self) -> Asset | None:
        raw = self.request.POST.get("asset", "") if self.request.method == "POST" else ""
        raw = raw or self.request.GET.get("asset", "")
        if not str(raw).isdigit():
            return None
        form = SupplyOrderForm(user=self.request.user)
        return form.fields["asset"].queryset.filter(pk=raw).first()

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        kwargs["asset"] = self.chosen_asset
        return kwargs

    def get_initial(self):
        initial = super().get_initial()
        asset = self.chosen_asset
        if asset is not None:
            initial["asset"] = asset.pk
        return initial

    def form_valid(self, form):
        try:
            order = supplies.supply_order_create(
                source=SupplyOrderSource.MANUAL, by=self.request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Supply order %(number)s was placed.") % {"number": order.number})
        return redirect("maintenance:supply_order_detail", pk=order.pk)


def asset_supplies_panel(*, user, obj) -> list[Tile]:
    """The asset page's latest supply orders and the button to order by hand: two queries."""
    access = access_for(user)
    if access is None:
        return []
    orders = list(supplies.supply_order_list(user=user).filter(asset_id=obj.pk)[:ASSET_PANEL_ROWS])
    may_order = obj.status in ASSET_IN_SERVICE_STATES and supplies.may_order(user=user, asset=obj)
    if may_order and not orders:
        may_order = supplies.supply_order_part_types(asset=obj).exists()
    if not orders and not may_order:
        return []
    context = {"asset": obj, "orders": orders, "may_order": may_order}
    return [Tile("maintenance/supplies/_asset_supplies.html", context, order=ASSET_PANEL_ORDER)]


urlpatterns = [
    path("supply-orders/", SupplyOrderListView.as_view(), name="supply_order_list"),
    path("supply-orders/new/", SupplyOrderCreateView.as_view(), name="supply_order_create"),
    path("supply-orders/<int:pk>/", SupplyOrderDetailView.as_view(), name="supply_order_detail"),
    path("supply-orders/<int:pk>/ship/", SupplyOrderShipView.as_view(), name="supply_order_ship"),
    path("supply-orders/<int:pk>/deliver/", SupplyOrderDeliverView.as_view(), name="supply_order_deliver"),
    path("supply-orders/<int:pk>/cancel/", SupplyOrderCancelView.as_view(), name="supply_order_cancel"),
]
