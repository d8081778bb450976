"""Demo contracts: one or two per demo customer, written through ``contracts.services`` so their audit trail is real.

- 東和商事 (office): a managed-print contract, active since the first of the month 14 months before the demo's
  day: ¥180,000 a month; mono pages at ¥0.8 beyond a pooled allowance of 100,000 pages a month, graduated (¥0.65
  from 200,000 pages beyond it, ¥0.5 from 500,000); colour pages at ¥8 beyond 500 pages per asset, at least
  ¥30,000 a month. It covers the customer's MFPs and printers, except two printers: the printer installed last
  joins in the fifth month (or on its installation, when later), and a retired printer installed before the
  eleventh month (if none, the first printer installed) is covered until the end of the tenth month. Amendment 1
  (an upsell, from the ninth month) ends the colour charge and starts one at ¥9 beyond 800 pages per asset, at
  least ¥40,000. Service level: the one ``maintenance.services.service_level_for`` gives the customer; 5 % credit
  per breach, capped at 20 %.
- みなと物流 (logistics): a five-year full-maintenance lease, active since the first of the month 20 months
  before the demo's day, on its forklifts, reach trucks and AGVs: ¥45,000 a month per covered vehicle;
  key-on hours at ¥400 beyond 150 hours per asset a month; ¥3 per pick (the AGVs count picks); and a one-off
  ¥85,000 for avoidable damage, linked to the customer's latest work order completed (or closed) on a covered
  vehicle since the lease began, preferring one whose damage was found avoidable, then corrective work, and
  charged on the day it was completed; without such a work order the charge has no link and falls 20 days before
  the demo's day. Service level: the one ``service_level_for`` gives the customer, without credits.
- Nordwerk (mixed): a flat-rate subscription, active since the first of the month 10 months before the demo's
  day, on all its assets: ¥1,280,000 a month and a 30 % share of the saving against a baseline of ¥1,650,000 a
  month; service level as for みなと物流. Before it, for the three years up to the day before, a maintenance
  agreement at ¥38,000 a month per asset and ¥1.2 a mono page on those of the same assets installed by its last
  day: their coverage ends on that day, and ``contract_transition`` ends it.

Contracts cover the customer's assets that are not retired, each from the contract's start or from its
installation, when later. The contracts of managed customers are written by their account manager, the others by
the provider admin.
Idempotent: a contract is keyed by its customer and title; one that exists is left as it is.
"""

import datetime
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation, User
from assets.choices import AssetCategory, AssetStatus
from assets.models import Asset
from contracts.choices import AllowanceScope, ComponentKind, ContractStatus, TierMode
from contracts.models import Contract, ContractAsset
from contracts.services import (
    component_add,
    contract_amend,
    contract_create,
    contract_transition,
    coverage_add,
    coverage_end,
)
from fleet.demo import DemoContext
from maintenance.choices import WorkOrderKind, WorkOrderStatus
from maintenance.models import WorkOrder
from maintenance.services import service_level_for
from telemetry.choices import Meter

OFFICE, LOGISTICS, MIXED, PILOT = "towa-shoji", "minato-logistics", "nordwerk-japan", "sakura-design"

PRINT_TITLE = "マネージドプリントサービス契約"
LEASE_TITLE = "フルメンテナンスリース契約（フォークリフト・AGV）"
SUBSCRIPTION_TITLE = "Flat-rate fleet subscription"
PILOT_TITLE = "マネージドプリント導入検証（パイロット）"
PILOT_STARTED, PILOT_ENDED = 8, 3  # months ago: won eight months ago, gone at the end of the month three months ago
EARLIER_TITLE = "Maintenance agreement (per asset)"

PRINT_CATEGORIES = (AssetCategory.MFP, AssetCategory.PRINTER)
VEHICLES = (AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK, AssetCategory.AGV)

PRINT_MONTHS_AGO, LEASE_MONTHS_AGO, SUBSCRIPTION_MONTHS_AGO = 14, 20, 10
LEASE_YEARS, EARLIER_YEARS = 5, 3
PRINTER_JOINS_AFTER, UPSELL_AFTER, PRINTER_LEAVES_AFTER = 4, 8, 10  # months after the print contract's start

MONO = {
    "kind": ComponentKind.METER_CHARGE,
    "name": "モノクロ印刷（ページ単価）",
    "meter": Meter.MONO_PAGES,
    "amount": Decimal("0.8"),
    "allowance": Decimal(100_000),
    "allowance_scope": AllowanceScope.POOLED,
    "tier_mode": TierMode.GRADUATED,
    "tiers": ((Decimal(0), Decimal("0.8")), (Decimal(200_000), Decimal("0.65")), (Decimal(500_000), Decimal("0.5"))),
}
COLOUR = {
    "kind": ComponentKind.METER_CHARGE,
    "name": "カラー印刷（ページ単価）",
    "meter": Meter.COLOUR_PAGES,
    "amount": Decimal(8),
    "allowance": Decimal(500),
    "allowance_scope": AllowanceScope.PER_ASSET,
    "minimum_charge": Decimal(30_000),
}
COLOUR_UPSOLD = {
    **COLOUR,
    "name": "カラー印刷（高画質オプション・ページ単価）",
    "amount": Decimal(9),
    "allowance": Decimal(800),
    "minimum_charge": Decimal(40_000),
}
UPSELL = (
    "カラー高画質オプションの追加：カラー単価を8円から9円に改定し、1台あたりの無料枠を500枚から800枚、"
    "月額最低料金を30,000円から40,000円に変更。"
)
DAMAGE_CHARGE = Decimal(85_000)
DAMAGE_DAYS_AGO = 20


def _months_after(first_of_month: datetime.date, months: int) -> datetime.date:
    """The first of the month ``months`` months after (negative: before) ``first_of_month``."""
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def _start(today: datetime.date, months_ago: int) -> datetime.date:
    return _months_after(today.replace(day=1), -months_ago)


def _writer(customer: Organisation, provider: Organisation) -> User | None:
    """The customer's account manager, else the provider admin."""
    manager = customer.account_managers.filter(is_active=True).order_by("pk").first()
    if manager is not None:
        return manager
    admin = Membership.objects.filter(organisation=provider, role=Role.PROVIDER_ADMIN).select_related("user")
    admin = admin.order_by("pk").first()
    return admin.user if admin else None


def _kept(customer: Organisation, categories: Sequence[str] | None = None, installed_by: datetime.date | None = None):
    """The customer's assets not retired (of ``categories``; installed by ``installed_by``), by asset tag."""
    assets = Asset.objects.filter(customer=customer).exclude(status=AssetStatus.RETIRED)
    if categories is not None:
        assets = assets.filter(asset_model__category__in=categories)
    if installed_by is not None:
        assets = assets.filter(Q(install_date__isnull=True) | Q(install_date__lte=installed_by))
    return assets.order_by("asset_tag", "pk")


def _joins(asset: Asset, start: datetime.date) -> datetime.date:
    """The day the asset's coverage starts: the contract's start, or its installation when later."""
    return max(start, asset.install_date or start)


def _components(contract: Contract, specs: Sequence[dict], by: User | None) -> None:
    for spec in specs:
        component_add(contract=contract, by=by, **spec)


def _cover(contract: Contract, assets, start: datetime.date, by: User | None) -> list[ContractAsset]:
    return [coverage_add(contract=contract, asset=asset, start_date=_joins(asset, start), by=by) for asset in assets]


def _summary(contract: Contract) -> str:
    parts = [f"{contract.coverage.count()} coverages", f"{contract.components.count()} price components"]
    amendments = contract.amendments.count()
    if amendments:
        parts.append(f"{amendments} amendment{'s' if amendments > 1 else ''}")
    return f"{contract.number} {contract.status} ({', '.join(parts)})"


# --- 東和商事: managed print ---------------------------------------------------------------------------------------


def _print_contract(customer: Organisation, by: User | None, today: datetime.date) -> Contract:
    start = _start(today, PRINT_MONTHS_AGO)
    contract = contract_create(
        customer=customer,
        title=PRINT_TITLE,
        start_date=start,
        by=by,
        billing_day=5,
        payment_terms_days=30,
        auto_renew=True,
        renewal_months=12,
        notice_days=90,
        service_level=service_level_for(customer=customer),
        credit_percent_per_breach=Decimal(5),
        credit_cap_percent=Decimal(20),
        notes="複合機・プリンターのトナー、部品、保守作業を含むマネージドプリントサービス。",
    )
    fee = {"kind": ComponentKind.FIXED_FEE, "name": "マネージドプリントサービス基本料", "amount": Decimal(180_000)}
    _components(contract, [fee, MONO], by)
    colour = component_add(contract=contract, by=by, **COLOUR)

    leaves = _months_after(start, PRINTER_LEAVES_AFTER)
    printers = Asset.objects.filter(customer=customer, asset_model__category=AssetCategory.PRINTER)
    joiner = _kept(customer, [AssetCategory.PRINTER]).order_by("-install_date", "serial_number").first()
    others = printers.exclude(pk=joiner.pk) if joiner is not None else printers
    leaver = (
        others.filter(Q(install_date__isnull=True) | Q(install_date__lt=leaves))
        .annotate(
            retired=Case(When(status=AssetStatus.RETIRED, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("retired", "install_date", "serial_number")
        .first()
    )
    apart = [asset.pk for asset in (joiner, leaver) if asset is not None]
    _cover(contract, _kept(customer, PRINT_CATEGORIES).exclude(pk__in=apart), start, by)
    if leaver is not None:
        (coverage,) = _cover(contract, [leaver], start, by)
        coverage_end(coverage=coverage, end_date=leaves - datetime.timedelta(days=1), by=by)
    if joiner is not None:
        _cover(contract, [joiner], _months_after(start, PRINTER_JOINS_AFTER), by)
    contract = contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)
    contract_amend(
        contract=contract,
        effective_date=_months_after(start, UPSELL_AFTER),
        description=UPSELL,
        by=by,
        ends=[colour],
        adds=[COLOUR_UPSOLD],
    )
    return contract


# --- みなと物流: full-maintenance lease --------------------------------------------------------------------------


def _damage_work_order(customer: Organisation, covered: Sequence[int], start: datetime.date) -> WorkOrder | None:
    """The latest completed or closed work order on a covered vehicle since ``start``: avoidable damage first,
    then corrective work."""
    return (
        WorkOrder.objects.filter(
            customer=customer,
            asset_id__in=covered,
            status__in=[WorkOrderStatus.COMPLETED, WorkOrderStatus.CLOSED],
            completed_at__date__gte=start,
        )
        .annotate(
            avoidable=Case(When(damage_avoidable=True, then=Value(0)), default=Value(1), output_field=IntegerField()),
            corrective=Case(
                When(kind=WorkOrderKind.CORRECTIVE, then=Value(0)), default=Value(1), output_field=IntegerField()
            ),
        )
        .order_by("avoidable", "corrective", "-completed_at", "-pk")
        .first()
    )


def _lease_contract(customer: Organisation, by: User | None, today: datetime.date) -> Contract:
    start = _start(today, LEASE_MONTHS_AGO)
    contract = contract_create(
        customer=customer,
        title=LEASE_TITLE,
        start_date=start,
        end_date=_months_after(start, 12 * LEASE_YEARS) - datetime.timedelta(days=1),
        by=by,
        billing_day=10,
        payment_terms_days=30,
        auto_renew=False,
        renewal_months=12,
        notice_days=180,
        service_level=service_level_for(customer=customer),
        notes="車両（フォークリフト・リーチフォーク・AGV）のフルメンテナンスリース。定期点検・消耗部品・修理を含み、"
        "お客様の過失による損傷の修理は別途請求。",
    )
    vehicles = list(_kept(customer, VEHICLES))
    _components(
        contract,
        [
            {
                "kind": ComponentKind.ASSET_FEE,
                "name": "フルメンテナンスリース料（1台あたり）",
                "amount": Decimal(45_000),
            },
            {
                "kind": ComponentKind.METER_CHARGE,
                "name": "稼働時間超過料金（キーオン時間）",
                "meter": Meter.HOURS_KEY_ON,
                "amount": Decimal(400),
                "allowance": Decimal(150),
                "allowance_scope": AllowanceScope.PER_ASSET,
            },
            {
                "kind": ComponentKind.OUTCOME_CHARGE,
                "name": "AGV ピッキング成果報酬（1ピックあたり）",
                "meter": Meter.PICKS,
                "amount": Decimal(3),
                "outcome_target": Decimal(110_000),  # picks a month the AGVs are to deliver
            },
        ],
        by,
    )
    _cover(contract, vehicles, start, by)
    work_order = _damage_work_order(customer, [asset.pk for asset in vehicles], start)
    if work_order is not None:
        name = f"過失による損傷の修理（{work_order.number}）"
        charge_date = timezone.localdate(work_order.completed_at)
    else:
        name = "過失による損傷の修理"
        charge_date = max(start, today - datetime.timedelta(days=DAMAGE_DAYS_AGO))
    component_add(
        contract=contract,
        by=by,
        kind=ComponentKind.ONE_OFF,
        name=name,
        amount=DAMAGE_CHARGE,
        charge_date=charge_date,
        work_order=work_order,
    )
    return contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)


# --- Nordwerk: flat-rate subscription and the agreement before it ---------------------------------------------------


def _earlier_contract(customer: Organisation, by: User | None, today: datetime.date) -> Contract:
    successor_start = _start(today, SUBSCRIPTION_MONTHS_AGO)
    until = successor_start - datetime.timedelta(days=1)
    start = _months_after(successor_start, -12 * EARLIER_YEARS)
    contract = contract_create(
        customer=customer,
        title=EARLIER_TITLE,
        start_date=start,
        by=by,
        billing_day=1,
        payment_terms_days=30,
        auto_renew=True,
        renewal_months=12,
        notice_days=90,
        notes="Replaced by the flat-rate fleet subscription.",
    )
    _components(
        contract,
        [
            {"kind": ComponentKind.ASSET_FEE, "name": "Maintenance fee per asset", "amount": Decimal(38_000)},
            {
                "kind": ComponentKind.METER_CHARGE,
                "name": "Pages printed (mono)",
                "meter": Meter.MONO_PAGES,
                "amount": Decimal("1.2"),
            },
        ],
        by,
    )
    coverages = _cover(contract, _kept(customer, installed_by=until), start, by)
    contract = contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)
    for coverage in coverages:
        coverage_end(coverage=coverage, end_date=until, by=by)
    return contract_transition(contract=contract, to=ContractStatus.ENDED, by=by, end_date=until)


def _subscription_contract(customer: Organisation, by: User | None, today: datetime.date) -> Contract:
    start = _start(today, SUBSCRIPTION_MONTHS_AGO)
    contract = contract_create(
        customer=customer,
        title=SUBSCRIPTION_TITLE,
        start_date=start,
        by=by,
        billing_day=1,
        payment_terms_days=30,
        auto_renew=True,
        renewal_months=12,
        notice_days=60,
        service_level=service_level_for(customer=customer),
        baseline_monthly_cost=Decimal(1_650_000),
        notes="All assets at one monthly rate; the provider shares in the saving against the former monthly cost.",
    )
    _components(
        contract,
        [
            {"kind": ComponentKind.FIXED_FEE, "name": "Flat-rate fleet subscription", "amount": Decimal(1_280_000)},
            {
                "kind": ComponentKind.SAVING_SHARE,
                "name": "Share of the saving",
                "share_percent": Decimal(30),
                "outcome_target": Decimal(350_000),  # the saving a month promised against the former cost
            },
        ],
        by,
    )
    _cover(contract, _kept(customer), start, by)
    return contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)


# --- さくらデザイン: a pilot that did not continue ------------------------------------------------------------------


def _pilot_contract(customer: Organisation, by: User | None, today: datetime.date) -> Contract:
    """A flat-fee print-management pilot of six months (the studio's own printers, not tracked), then ended: a
    customer won and lost inside the demo's year (new MRR, then churn)."""
    start = _start(today, PILOT_STARTED)
    until = _start(today, PILOT_ENDED - 1) - datetime.timedelta(days=1)
    contract = contract_create(
        customer=customer,
        title=PILOT_TITLE,
        start_date=start,
        by=by,
        billing_day=1,
        payment_terms_days=30,
        auto_renew=False,
        notice_days=30,
        notes="導入検証の後、継続なし。",
    )
    fee = {"kind": ComponentKind.FIXED_FEE, "name": "導入検証サービス料（月額）", "amount": Decimal(180_000)}
    _components(contract, [fee], by)
    contract = contract_transition(contract=contract, to=ContractStatus.ACTIVE, by=by)
    return contract_transition(contract=contract, to=ContractStatus.ENDED, by=by, end_date=until)


# --- The step ---------------------------------------------------------------------------------------------------


PLANS = {
    OFFICE: ((PRINT_TITLE, _print_contract),),
    LOGISTICS: ((LEASE_TITLE, _lease_contract),),
    MIXED: ((EARLIER_TITLE, _earlier_contract), (SUBSCRIPTION_TITLE, _subscription_contract)),
    PILOT: ((PILOT_TITLE, _pilot_contract),),
}


def seed_contracts(context: DemoContext) -> None:
    """The demo customers' contracts (module docstring), one log line per customer; a contract whose customer and
    title exist is kept as it is."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    customers = {customer.code: customer for customer in Organisation.objects.filter(provider=provider)}
    for code, plan in PLANS.items():
        customer = customers.get(code)
        if customer is None:
            continue
        by = _writer(customer, provider)
        lines = []
        with transaction.atomic():
            for title, build in plan:
                contract = Contract.objects.filter(customer=customer, title=title).order_by("pk").first()
                state = "kept"
                if contract is None:
                    contract = build(customer, by, context.today)
                    state = "created"
                lines.append(f"{_summary(contract)} {state}")
        context.log(f"contracts: {customer.name}: {'; '.join(lines)}")


# --- Invoices -----------------------------------------------------------------------------------------------------

INVOICE_MONTHS = 12
ISSUE_DAY = 4  # the run starts on the 1st; drafts are reviewed for three days and finalised on the 4th


def seed_invoices(context: DemoContext) -> None:
    """Twelve months of finalised invoices: the provider's run of each of the twelve months before the demo's month,
    oldest first (so that each month starts from the counters the one before froze), drafted and then finalised on
    the 4th of the month after. Only the latest month's documents are rendered now (the older ones render when first
    downloaded); nothing is e-mailed. A month whose run is finalised is kept as it is."""
    from contracts.billing import billing_run_draft_batch, billing_run_finalise, billing_run_start, invoice_documents
    from contracts.choices import BillingRunStatus
    from contracts.models import BillingRun, Invoice

    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    admin = Membership.objects.filter(organisation=provider, role=Role.PROVIDER_ADMIN).select_related("user").first()
    by = admin.user if admin else None
    first_of_month = context.today.replace(day=1)
    for months_ago in range(INVOICE_MONTHS, 0, -1):
        period = _months_after(first_of_month, -months_ago)
        issued = _months_after(period, 1).replace(day=ISSUE_DAY)
        run = BillingRun.objects.filter(provider=provider, year=period.year, month=period.month).first()
        if run is not None and run.status == BillingRunStatus.FINALISED:
            continue
        run = billing_run_start(provider=provider, year=period.year, month=period.month, by=by, today=issued)
        # The demo's steps run in a transaction, where the run's queued batches wait for the commit: draft here (the
        # batches find nothing pending afterwards).
        billing_run_draft_batch(run_id=run.pk, customer_ids=run.items.values_list("customer_id", flat=True))
        billing_run_finalise(run=run, by=by, today=issued, deliver=False)
    latest = _months_after(first_of_month, -1)
    invoices = Invoice.objects.filter(provider=provider, status="finalised")
    for invoice in invoices.filter(year=latest.year, month=latest.month, pdf=""):
        invoice_documents(invoice)
    context.log(
        f"invoices: {invoices.count()} finalised over {INVOICE_MONTHS} months, "
        f"latest {', '.join(invoices.order_by('-year', '-month', 'number').values_list('number', flat=True)[:3])}"
    )
