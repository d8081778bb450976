"""Reads of the asset registry, shared by portal pages, the API, exports, PDFs and tasks."""

from django.db.models import Count, Q, QuerySet

from accounts.choices import Role
from accounts.models import Membership, User
from assets.choices import AssetStatus
from assets.models import Asset, AssetEvent, AssetModel, Manufacturer, PartType, Site

DASHBOARD_SITES = 25


def site_list(*, user: User) -> QuerySet[Site]:
    """Sites the user may see, with their customer and the count of their assets that are not retired."""
    return (
        Site.objects.visible_to(user)
        .select_related("customer")
        .annotate(asset_count=Count("assets", filter=~Q(assets__status=AssetStatus.RETIRED)))
        .order_by("customer__name", "name")
    )


def asset_list(*, user: User) -> QuerySet[Asset]:
    """Assets the user may see, with what list pages, the API and exports show of them."""
    return Asset.objects.visible_to(user).select_related("customer", "site", "asset_model", "manufacturer")


def asset_history(*, asset: Asset) -> QuerySet[AssetEvent]:
    """The lifecycle history of one (already visible) asset, newest first."""
    return asset.history.select_related("by", "from_site", "to_site")


def manufacturer_list(*, user: User | None = None) -> QuerySet[Manufacturer]:
    """Manufacturers of the catalogue (not tenant-owned)."""
    return Manufacturer.objects.order_by("name")


def asset_model_list(*, user: User | None = None) -> QuerySet[AssetModel]:
    """The provider's catalogue of models (not tenant-owned: every signed-in user may read it)."""
    return AssetModel.objects.select_related("manufacturer").order_by("manufacturer__name", "name")


def part_type_list(*, user: User | None = None) -> QuerySet[PartType]:
    """The catalogue of part types, with the models they fit."""
    return PartType.objects.prefetch_related("asset_models").order_by("name")


def asset_counts(*, user: User) -> dict:
    """Dashboard figures: visible assets by status, by category and by site (three aggregate queries)."""
    assets = Asset.objects.visible_to(user)
    by_status = dict(assets.values_list("status").annotate(n=Count("pk")).order_by())
    by_category = dict(assets.values_list("asset_model__category").annotate(n=Count("pk")).order_by())
    by_site = list(
        assets.values("site_id", "site__name", "customer__name")
        .annotate(n=Count("pk"))
        .order_by("-n", "site__name")[:DASHBOARD_SITES]
    )
    return {"total": sum(by_status.values()), "by_status": by_status, "by_category": by_category, "by_site": by_site}


def site_operator_candidates(*, site: Site) -> QuerySet[Membership]:
    """The customer operators of a site's customer, who may be assigned to the site."""
    return (
        Membership.objects.filter(organisation_id=site.customer_id, role=Role.CUSTOMER_OPERATOR)
        .select_related("user")
        .order_by("user__email")
    )
