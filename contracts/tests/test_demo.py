"""The demo's contracts: one or two per demo customer, every component kind, each customer's own assets covered,
every row audited, and a second run adds nothing."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organisation, User
from assets.choices import AssetCategory, AssetStatus
from assets.models import Asset
from contracts.choices import AllowanceScope, AuditAction, ComponentKind, ContractStatus, TierMode
from contracts.demo import seed_contracts
from contracts.models import (
    AuditEntry,
    Contract,
    ContractAmendment,
    ContractAsset,
    PriceComponent,
    PriceTier,
)
from fleet.demo import DemoContext, demo_steps
from maintenance.choices import WorkOrderKind, WorkOrderStatus
from maintenance.services import service_level_for
from telemetry.choices import Meter

pytestmark = pytest.mark.django_db

TABLES = (Contract, PriceComponent, PriceTier, ContractAsset, ContractAmendment, AuditEntry)
DAY = datetime.timedelta(days=1)
PRINT = (AssetCategory.MFP, AssetCategory.PRINTER)


def _counts() -> dict:
    return {model.__name__: model.objects.count() for model in TABLES}


def _months_after(first: datetime.date, months: int) -> datetime.date:
    index = first.year * 12 + first.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _joins(asset: Asset, start: datetime.date) -> datetime.date:
    return max(start, asset.install_date or start)


def _months_between(earlier: datetime.date, later: datetime.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def test_the_step_runs_after_the_maintenance_steps():
    steps = {step.name: step.order for step in demo_steps()}
    assert steps["contracts"] > max(order for name, order in steps.items() if name.startswith("maintenance"))


def _check_office(towa: Organisation, today: datetime.date) -> None:
    (contract,) = Contract.objects.filter(customer=towa)
    assert contract.status == ContractStatus.ACTIVE and contract.currency == "JPY"
    assert contract.start_date.day == 1 and _months_between(contract.start_date, today) == 14
    assert contract.service_level == service_level_for(customer=towa) is not None
    assert (contract.credit_percent_per_breach, contract.credit_cap_percent) == (Decimal(5), Decimal(20))

    fee = contract.components.get(kind=ComponentKind.FIXED_FEE)
    assert fee.amount == Decimal(180_000)
    mono = contract.components.get(meter=Meter.MONO_PAGES)
    assert (mono.amount, mono.allowance_scope, mono.tier_mode) == (
        Decimal("0.8"),
        AllowanceScope.POOLED,
        TierMode.GRADUATED,
    )
    assert list(mono.tiers.values_list("from_units", "rate")) == [
        (Decimal(0), Decimal("0.8")),
        (Decimal(200_000), Decimal("0.65")),
        (Decimal(500_000), Decimal("0.5")),
    ]
    before, after = contract.components.filter(meter=Meter.COLOUR_PAGES).order_by("valid_from")
    (amendment,) = contract.amendments.all()
    assert before.allowance_scope == AllowanceScope.PER_ASSET and before.minimum_charge == Decimal(30_000)
    assert (before.amount, after.amount) == (Decimal(8), Decimal(9))
    assert before.valid_to == amendment.effective_date - DAY
    assert (after.valid_from, after.valid_to, after.amendment) == (amendment.effective_date, None, amendment)
    assert contract.start_date < amendment.effective_date <= today

    coverage = list(contract.coverage.select_related("asset__asset_model"))
    assert {link.asset.asset_model.category for link in coverage} == {AssetCategory.MFP, AssetCategory.PRINTER}
    (left,) = [link for link in coverage if link.end_date is not None]
    printers = Asset.objects.filter(customer=towa, asset_model__category=AssetCategory.PRINTER)
    joiner = printers.exclude(status=AssetStatus.RETIRED).order_by("-install_date", "serial_number").first()
    (joined,) = [link for link in coverage if link.asset == joiner]
    assert left.asset.asset_model.category == AssetCategory.PRINTER and left.asset != joiner
    assert contract.start_date < left.end_date < today and left.end_date.month != (left.end_date + DAY).month
    assert contract.start_date < joined.start_date == _joins(joiner, _months_after(contract.start_date, 4))
    others = [link for link in coverage if link != joined]
    assert all(link.start_date == _joins(link.asset, contract.start_date) for link in others)
    kept = Asset.objects.filter(customer=towa, asset_model__category__in=PRINT).exclude(status=AssetStatus.RETIRED)
    assert {link.asset_id for link in coverage} == {*kept.values_list("pk", flat=True), left.asset_id}


def _check_logistics(minato: Organisation, today: datetime.date) -> None:
    (contract,) = Contract.objects.filter(customer=minato)
    assert contract.status == ContractStatus.ACTIVE and contract.start_date <= today < contract.end_date
    vehicles = Asset.objects.filter(
        customer=minato,
        asset_model__category__in=[AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK, AssetCategory.AGV],
    ).exclude(status=AssetStatus.RETIRED)
    assert set(contract.coverage.values_list("asset", flat=True)) == set(vehicles.values_list("pk", flat=True))
    assert vehicles.filter(asset_model__category=AssetCategory.AGV).exists()
    assert not contract.coverage.exclude(end_date=None).exists()
    fee = contract.components.get(kind=ComponentKind.ASSET_FEE)
    hours = contract.components.get(kind=ComponentKind.METER_CHARGE)
    picks = contract.components.get(kind=ComponentKind.OUTCOME_CHARGE)
    assert fee.amount == Decimal(45_000)
    assert (hours.meter, hours.allowance_scope, hours.allowance) == (
        Meter.HOURS_KEY_ON,
        AllowanceScope.PER_ASSET,
        Decimal(150),
    )
    assert picks.meter == Meter.PICKS
    damage = contract.components.get(kind=ComponentKind.ONE_OFF)
    work_order = damage.work_order
    assert work_order is not None  # the demo's history has completed truck repairs of みなと物流
    assert (work_order.customer, work_order.kind) == (minato, WorkOrderKind.CORRECTIVE)
    assert work_order.status in (WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED)
    assert contract.coverage.filter(asset=work_order.asset).exists()
    assert damage.charge_date == timezone.localdate(work_order.completed_at)


def _check_mixed(nordwerk: Organisation, today: datetime.date) -> None:
    earlier, current = Contract.objects.filter(customer=nordwerk).order_by("start_date")
    assert (earlier.status, current.status) == (ContractStatus.ENDED, ContractStatus.ACTIVE)
    assert earlier.end_date == current.start_date - DAY
    assert not earlier.coverage.exclude(end_date=earlier.end_date).exists()
    assert set(earlier.coverage.values_list("asset", flat=True)) == set(
        Asset.objects.filter(customer=nordwerk, install_date__lte=earlier.end_date)
        .exclude(status=AssetStatus.RETIRED)
        .values_list("pk", flat=True)
    )
    ended = earlier.audit.filter(action=AuditAction.CHANGED, changes__has_key="status").order_by("pk").last()
    assert ended.changes["status"] == [ContractStatus.ACTIVE, ContractStatus.ENDED]
    assert current.baseline_monthly_cost == Decimal(1_650_000)
    assert current.service_level == service_level_for(customer=nordwerk)
    assert current.components.get(kind=ComponentKind.SAVING_SHARE).share_percent == Decimal(30)
    assert current.components.get(kind=ComponentKind.FIXED_FEE).amount == Decimal(1_280_000)
    assert not current.coverage.exclude(end_date=None).exists()
    assert set(current.coverage.values_list("asset", flat=True)) == set(
        Asset.objects.filter(customer=nordwerk).exclude(status=AssetStatus.RETIRED).values_list("pk", flat=True)
    )


def _check_audit() -> None:
    for model in (Contract, PriceComponent, ContractAsset, ContractAmendment):
        content_type = ContentType.objects.get_for_model(model)
        created = set(
            AuditEntry.objects.filter(content_type=content_type, action=AuditAction.CREATED).values_list(
                "object_id", flat=True
            )
        )
        assert set(model.objects.values_list("pk", flat=True)) == created
    activated = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contract), changes__status=["draft", "active"]
    )
    assert activated.count() == Contract.objects.count()


def test_seed_contracts_on_the_demo_database_creates_each_customers_contracts_once(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", "--skip", "contracts", stdout=StringIO())
    assert not Contract.objects.exists()
    today = timezone.localdate()
    lines: list[str] = []
    seed_contracts(DemoContext(today=today, log=lines.append))

    towa, minato, nordwerk = (
        Organisation.objects.get(code=code) for code in ("towa-shoji", "minato-logistics", "nordwerk-japan")
    )
    per_customer = {
        customer: Contract.objects.filter(customer=customer).count() for customer in (towa, minato, nordwerk)
    }
    assert per_customer == {towa: 1, minato: 1, nordwerk: 2}
    assert set(PriceComponent.objects.values_list("kind", flat=True)) == set(ComponentKind.values)
    # The pilot of the customer that left covered none of its printers: a flat fee, ended.
    pilot = Contract.objects.get(customer__code="sakura-design")
    assert (pilot.status, pilot.coverage.count(), pilot.components.get().kind) == (
        ContractStatus.ENDED, 0, ComponentKind.FIXED_FEE
    )  # fmt: skip
    for contract in Contract.objects.exclude(pk=pilot.pk):
        coverage = list(contract.coverage.select_related("asset"))
        assert coverage and all(link.asset.customer_id == contract.customer_id for link in coverage)
        assert all(link.start_date >= _joins(link.asset, contract.start_date) for link in coverage)
        assert not [link for link in coverage if link.asset.status == AssetStatus.RETIRED and link.end_date is None]
    _check_office(towa, today)
    _check_logistics(minato, today)
    _check_mixed(nordwerk, today)
    _check_audit()
    manager = User.objects.get(email="sales@nihon-fleet.example")
    admin = User.objects.get(email="admin@nihon-fleet.example")
    assert set(AuditEntry.objects.filter(contract__customer__in=[towa, minato]).values_list("by", flat=True)) == {
        manager.pk
    }
    assert set(AuditEntry.objects.filter(contract__customer=nordwerk).values_list("by", flat=True)) == {admin.pk}
    assert len(lines) == 4 and all(line.startswith("contracts: ") and "created" in line for line in lines)

    before = _counts()
    again: list[str] = []
    seed_contracts(DemoContext(today=today, log=again.append))
    assert _counts() == before
    assert len(again) == 4 and all("kept" in line and "created" not in line for line in again)
