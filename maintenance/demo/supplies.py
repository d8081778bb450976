"""Demo supply orders: an office customer orders toner by hand twice; the provider ships both, one has arrived.

Idempotent: when the customer already has hand orders, nothing is added.
"""

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership
from assets.choices import ASSET_IN_SERVICE_STATES, PartKind
from assets.models import Asset, PartType
from fleet.demo import DemoContext
from maintenance.choices import SupplyOrderSource
from maintenance.models import SupplyOrder
from maintenance.supplies import supply_order_create, supply_order_deliver, supply_order_ship

CUSTOMER_CODE = "towa-shoji"
NOTES = ("会議室の複合機、黒トナーの予備をお願いします。", "カラー印刷が増えたため、シアンを1本お願いします。")


def _pairs(customer_id: int) -> list[tuple[Asset, PartType]]:
    """Two (asset, toner) pairs of the customer without an open order: black first, then cyan."""
    pairs = []
    assets = Asset.objects.filter(customer_id=customer_id, status__in=ASSET_IN_SERVICE_STATES).order_by("pk")
    for suffix in ("-K", "-C"):
        for asset in assets:
            part_type = (
                PartType.objects.filter(
                    kind=PartKind.CONSUMABLE, asset_models=asset.asset_model_id, code__endswith=suffix
                )
                .order_by("code")
                .first()
            )
            if part_type is None or SupplyOrder.objects.open().filter(asset=asset, part_type=part_type).exists():
                continue
            if any(asset.pk == chosen.pk for chosen, _part in pairs):
                continue
            pairs.append((asset, part_type))
            break
    return pairs


def seed_supplies(context: DemoContext) -> None:
    orderer = (
        Membership.objects.filter(organisation__code=CUSTOMER_CODE, role=Role.CUSTOMER_ADMIN)
        .select_related("user", "organisation")
        .first()
    )
    desk = Membership.objects.filter(organisation__code=PROVIDER_CODE, role=Role.SERVICE_DESK).select_related("user")
    desk = desk.first()
    if orderer is None or desk is None:
        return
    customer = orderer.organisation
    if SupplyOrder.objects.filter(customer=customer, source=SupplyOrderSource.MANUAL).exists():
        context.log(f"maintenance_supplies: hand orders of {customer.name} kept")
        return
    pairs = _pairs(customer.pk)
    for number, ((asset, part_type), note) in enumerate(zip(pairs, NOTES, strict=False)):
        order = supply_order_create(
            asset=asset, part_type=part_type, quantity=1, source=SupplyOrderSource.MANUAL, by=orderer.user, note=note
        )
        supply_order_ship(order=order, by=desk.user, tracking=f"4321-8765-{order.pk:04d}")
        if number == 0:
            supply_order_deliver(order=order, by=orderer.user)
    context.log(f"maintenance_supplies: {len(pairs)} hand orders of {customer.name} shipped")
