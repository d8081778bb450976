"""Demo preventive plans and statutory inspections.

An MFP plan (every 90 days or 100,000 pages, whichever comes first) for the most common demo MFP model, a
forklift plan (every 500 key-on hours or 180 days) for each demo forklift model, and the Japanese statutory
inspections for the demo forklifts: the annual specific self-inspection (特定自主検査) and the monthly
self-inspection, with their inspection records (one forklift is overdue for its monthly inspection). Then the
daily task runs once for the demo's day, so the upcoming preventive work orders exist.

Idempotent: plans are keyed by name, a forklift that already has records gets no more, and the daily task opens
nothing twice.
"""

import datetime

from django.db.models import Count

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation
from assets.choices import ASSET_IN_SERVICE_STATES, AssetCategory
from assets.models import Asset, AssetModel
from fleet.demo import DemoContext
from maintenance import plans
from maintenance.choices import InspectionResult, Priority, ScheduleMode, StatutoryInspection, WorkOrderKind
from maintenance.models import InspectionRecord, PreventivePlan
from telemetry.choices import Meter

INSPECTOR_QUALIFICATION = "特定自主検査 検査者（事業内）"
MONTHLY_FINDINGS = "フォーク・チェーン・ブレーキ・警報装置 異常なし"
ANNUAL_FINDINGS = "マスト・チェーン給油、ブレーキ調整済み。異常なし"


def _plan(provider: Organisation, name: str, **fields) -> PreventivePlan:
    plan = PreventivePlan.objects.filter(provider=provider, name=name).first()
    if plan is None:
        plan = PreventivePlan.objects.create(provider=provider, name=name, **fields)
    return plan


def seed_plans(context: DemoContext) -> None:
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    today = context.today
    in_service = Asset.objects.filter(customer__provider=provider, status__in=ASSET_IN_SERVICE_STATES)
    by_model = dict(in_service.values("asset_model").annotate(n=Count("pk")).order_by().values_list("asset_model", "n"))
    models = {model.pk: model for model in AssetModel.objects.filter(pk__in=by_model)}
    mfps = sorted(
        (model for model in models.values() if model.category == AssetCategory.MFP),
        key=lambda model: (-by_model[model.pk], model.name),
    )
    forklifts = sorted(
        (model for model in models.values() if model.category == AssetCategory.FORKLIFT),
        key=lambda model: model.name,
    )
    created = 0
    if mfps:
        _plan(
            provider,
            f"{mfps[0].name} 定期点検 (90日 / 10万枚)",
            asset_model=mfps[0],
            kind=WorkOrderKind.PREVENTIVE,
            interval_days=90,
            meter=Meter.TOTAL_PAGES,
            interval_units=100_000,
            schedule=ScheduleMode.FLOATING,
            starts_on=today - datetime.timedelta(days=75),
            lead_days=14,
            priority=Priority.P3,
        )
        created += 1
    for model in forklifts:
        _plan(
            provider,
            f"{model.name} 定期整備 (500時間 / 180日)",
            asset_model=model,
            kind=WorkOrderKind.PREVENTIVE,
            interval_days=180,
            meter=Meter.HOURS_KEY_ON,
            interval_units=500,
            schedule=ScheduleMode.FLOATING,
            starts_on=today - datetime.timedelta(days=170),
            lead_days=14,
            priority=Priority.P3,
        )
        _plan(
            provider,
            f"{model.name} 特定自主検査（年次）",
            asset_model=model,
            kind=WorkOrderKind.INSPECTION,
            statutory=StatutoryInspection.ANNUAL_SPECIFIC,
            interval_days=365,
            schedule=ScheduleMode.FLOATING,
            starts_on=today - datetime.timedelta(days=400),
            lead_days=30,
            priority=Priority.P2,
        )
        _plan(
            provider,
            f"{model.name} 月次点検",
            asset_model=model,
            kind=WorkOrderKind.INSPECTION,
            statutory=StatutoryInspection.MONTHLY_SELF,
            interval_days=30,
            schedule=ScheduleMode.FLOATING,
            starts_on=today - datetime.timedelta(days=400),
            lead_days=5,
            priority=Priority.P3,
        )
        created += 3
    records = _seed_records(provider, forklifts, today)
    opened = plans.preventive_plans_run(today=today)
    context.log(f"maintenance plans: {created} plans, {records} inspection records, {len(opened)} work orders opened")


def _seed_records(provider: Organisation, forklifts: list[AssetModel], today: datetime.date) -> int:
    """Annual and monthly inspection records of the demo forklifts; the first one's monthly is overdue."""
    technician = (
        Membership.objects.filter(organisation=provider, role=Role.TECHNICIAN)
        .select_related("user")
        .order_by("user__email")
        .first()
    )
    inspector = technician.user if technician else None
    name = (inspector.get_full_name() or inspector.email) if inspector else "検査員"
    if InspectionRecord.objects.filter(asset__customer__provider=provider).exists():
        return 0  # seeded before: leave the history as it is
    trucks = list(
        Asset.objects.filter(customer__provider=provider, asset_model__in=forklifts, status__in=ASSET_IN_SERVICE_STATES)
        .select_related("customer")
        .order_by("serial_number")
    )
    count = 0
    for index, truck in enumerate(trucks):
        annual_on = today - datetime.timedelta(days=40 + (index * 37) % 300)
        plans.inspection_record_create(
            asset=truck,
            kind=StatutoryInspection.ANNUAL_SPECIFIC,
            inspected_on=annual_on,
            inspector=inspector,
            inspector_name=name,
            qualification=INSPECTOR_QUALIFICATION,
            result=InspectionResult.PASSED,
            findings=ANNUAL_FINDINGS,
            by=None,
            today=today,
        )
        # Monthly inspections over the last three months; the first truck missed its last one (overdue).
        last_monthly = today - datetime.timedelta(days=45 if index == 0 else 5 + index % 20)
        for months_back in (2, 1, 0):
            plans.inspection_record_create(
                asset=truck,
                kind=StatutoryInspection.MONTHLY_SELF,
                inspected_on=plans.add_months(last_monthly, -months_back),
                inspector=inspector,
                inspector_name=name,
                qualification="",
                result=InspectionResult.PASSED,
                findings=MONTHLY_FINDINGS,
                by=None,
                today=today,
            )
        count += 4
    return count
