"""Demo pre-use inspections: the provider's forklift checklist and two weeks of the demo operator's checks.

The operator of the logistics customer (operator@minato-logistics.example) inspects two or three forklifts of
their site every morning for the last 14 days. One check a few days ago found the horn not working (a P3 order),
and this morning's check of one truck failed its brakes: the truck went out of service, an alert was raised and
a corrective order opened. Every inspection goes through ``pre_use_inspection_submit``. Idempotent: a day on
which the operator already has an inspection is left as it is.
"""

import datetime
import random
from zoneinfo import ZoneInfo

from django.utils import timezone

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation
from assets.choices import AssetCategory, AssetStatus
from assets.models import Asset
from fleet.demo import DemoContext
from maintenance.choices import ChecklistPurpose
from maintenance.inspections import PreUseAnswer, pre_use_inspection_submit
from maintenance.models import ChecklistTemplate, ChecklistTemplateItem, PreUseInspection
from telemetry.choices import Meter
from telemetry.models import Reading

OPERATOR_EMAIL = "operator@minato-logistics.example"
TEMPLATE_NAME = "フォークリフト始業点検"
# (text, critical)
CHECKLIST = (
    ("ブレーキの効き（Brakes）", True),
    ("ハンドル操作（Steering）", True),
    ("ホーン（Horn）", False),
    ("ライト・ランプ類（Lights）", False),
    ("フォーク・チェーン（Forks and chains）", True),
    ("タイヤの状態・空気圧（Tyres）", False),
    ("バッテリー充電量（Battery charge）", False),
    ("油圧系統の油漏れ（Hydraulic leaks）", True),
    ("シートベルト（Seat belt）", True),
)
DAYS = 14
TRUCKS = 3
HORN_FAILURE_DAYS_AGO = 5


def checklist_ensure(provider: Organisation) -> ChecklistTemplate:
    template, created = ChecklistTemplate.objects.get_or_create(
        provider=provider,
        purpose=ChecklistPurpose.PRE_USE,
        name=TEMPLATE_NAME,
        defaults={"category": AssetCategory.FORKLIFT},
    )
    if created or not template.items.exists():
        ChecklistTemplateItem.objects.bulk_create(
            [
                ChecklistTemplateItem(template=template, position=position, text=text, critical=critical)
                for position, (text, critical) in enumerate(CHECKLIST, 1)
            ]
        )
    return template


def _hour_meter(asset: Asset, at: datetime.datetime):
    return (
        Reading.objects.filter(asset=asset, meter=Meter.HOURS_KEY_ON, taken_at__lte=at, invalidated_at__isnull=True)
        .order_by("-taken_at")
        .values_list("value", flat=True)
        .first()
    )


def seed_inspections(context: DemoContext) -> None:
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    template = checklist_ensure(provider)
    membership = (
        Membership.objects.filter(user__email=OPERATOR_EMAIL, role=Role.CUSTOMER_OPERATOR)
        .select_related("user")
        .first()
    )
    site = membership.sites.order_by("pk").first() if membership else None
    if site is None:
        context.log("maintenance inspections: no demo operator with a site, skipped")
        return
    operator = membership.user
    trucks = list(
        Asset.objects.filter(
            site=site,
            asset_model__category=AssetCategory.FORKLIFT,
            status__in=(AssetStatus.ACTIVE, AssetStatus.STANDBY),
        )
        .select_related("customer", "asset_model")
        .order_by("asset_tag", "pk")[:TRUCKS]
    )
    if not trucks:
        context.log("maintenance inspections: no forklifts at the operator's site, skipped")
        return
    zone = ZoneInfo(site.time_zone)
    now = timezone.now()
    done_days = {
        timezone.localtime(at, zone).date()
        for at in PreUseInspection.objects.filter(operator=operator).values_list("performed_at", flat=True)
    }
    mine = PreUseInspection.objects.filter(operator=operator)
    had_failure = mine.filter(passed=False, critical_failure=False).exists()
    had_critical = mine.filter(critical_failure=True).exists()
    items = list(template.items.order_by("position", "id"))
    brakes, horn = items[0], items[2]
    rng = random.Random(OPERATOR_EMAIL)
    created = 0
    for days_ago in range(DAYS - 1, -1, -1):
        day = context.today - datetime.timedelta(days=days_ago)
        if day in done_days:
            continue
        start = datetime.datetime.combine(day, datetime.time(7, 30), tzinfo=zone)
        for number, truck in enumerate(trucks):
            truck.refresh_from_db(fields=["status"])
            if truck.status not in (AssetStatus.ACTIVE, AssetStatus.STANDBY):
                continue
            performed_at = min(start + datetime.timedelta(minutes=7 * number + rng.randint(0, 5)), now)
            failed = set()
            notes = {}
            if days_ago == HORN_FAILURE_DAYS_AGO and number == 1 and not had_failure:
                failed.add(horn.pk)
                notes[horn.pk] = "鳴らない"
            if days_ago == 0 and number == 0 and not had_critical:
                failed.add(brakes.pk)
                notes[brakes.pk] = "踏みしろが大きく、効きが弱い"
            pre_use_inspection_submit(
                asset=truck,
                operator=operator,
                answers=[
                    PreUseAnswer(item_id=item.pk, ok=item.pk not in failed, note=notes.get(item.pk, ""))
                    for item in items
                ],
                hour_meter=_hour_meter(truck, performed_at),
                performed_at=performed_at,
            )
            created += 1
    context.log(f"maintenance inspections: {created} pre-use inspections recorded")
