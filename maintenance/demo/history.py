"""Demo history: work orders of every kind and every status across the demo customers over the past months.

Each scenario is opened, assigned, moved, worked on (parts, labour), completed with the customer's signature and
closed through the services, so that every order has its timeline, part installations and erasure certificates
as real work would leave them. The services stamp ``timezone.now()``; the demo then back-dates each order (demo
back-dating only): its creation, due times, response, completion and closing, its timeline events, the parts'
and installations' times move to the scenario's place in the past with a queryset ``update()``, and the breach
flags follow from the moved times (some scenarios are late on purpose). The history's completion reports count
as sent, so seeding e-mails nobody.

The history belongs to the demo's second technician (``HISTORY_TECHNICIAN``), so the first one's day stays as the
maintenance step left it. Idempotent: a scenario whose description the customer already has is skipped.
"""

import base64
import datetime
import io
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from PIL import Image, ImageDraw

from accounts.choices import Role
from accounts.demo import DEMO_PASSWORDS, PROVIDER_CODE
from accounts.models import Membership, Organisation, User
from accounts.services import user_create
from assets.choices import AssetCategory
from assets.models import Asset
from fleet.demo import DemoContext
from maintenance import services, work
from maintenance.choices import (
    ChecklistResult,
    ErasureMethod,
    Priority,
    WorkOrderKind,
    WorkOrderSource,
    WorkOrderStatus,
)
from maintenance.models import PartInstallation, WorkOrder, WorkOrderEvent, WorkOrderPart
from telemetry.models import Reading

# The demo's second technician, who holds the history (``maintenance.demo.approvals`` gives them work too).
HISTORY_TECHNICIAN = ("tech2@nihon-fleet.example", "山田", "陽介")
S = WorkOrderStatus
K = WorkOrderKind
PRINT = (AssetCategory.MFP, AssetCategory.PRINTER)
TRUCKS = (AssetCategory.FORKLIFT, AssetCategory.REACH_TRUCK)

# Typical time from the previous step to a move into each status (hours), before a scenario's pace.
STEP_HOURS = {
    S.ASSIGNED: 0.5,
    S.EN_ROUTE: 1.5,
    S.IN_PROGRESS: 1.0,
    S.ON_HOLD: 2.0,
    S.COMPLETED: 2.5,
    S.CLOSED: 20.0,
    S.CANCELLED: 3.0,
}


@dataclass(frozen=True)
class Scenario:
    """One work order of the history: who, what, how far it got, and when."""

    customer: str
    kind: str
    priority: str
    description: str
    steps: tuple[str, ...]  # the statuses it moves through after being opened (ASSIGNED means assigned)
    days_ago: float
    categories: tuple[str, ...] = ()
    source: str = WorkOrderSource.MANUAL
    pace: float = 1.0  # a multiplier of STEP_HOURS: late orders take longer
    notes: str = ""
    parts: tuple[tuple[str, Decimal], ...] = ()  # (part type name fragment, quantity)
    labour_hours: Decimal | None = None
    downtime: bool = False
    signed_by: str = ""
    extra: dict = field(default_factory=dict)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "towa-shoji",
        K.CORRECTIVE,
        Priority.P2,
        "給紙トレイ2で紙詰まりが頻発しています。営業部の印刷が止まっています。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=96,
        categories=PRINT,
        notes="トレイ2の給紙ローラーが摩耗していたため交換。搬送経路を清掃し、連続100枚の通紙テストで異常なし。",
        parts=(("", Decimal(1)),),
        labour_hours=Decimal("1.5"),
        downtime=True,
        signed_by="伊藤 直子",
    ),
    Scenario(
        "minato-logistics",
        K.PREVENTIVE,
        Priority.P3,
        "定期保守（3か月点検）：ブレーキ、マスト、チェーン、油圧系統の点検。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=81,
        categories=TRUCKS,
        notes="各部点検・給油を実施。リフトチェーンの張りを調整。次回点検は3か月後。",
        labour_hours=Decimal("2.0"),
        signed_by="中村 浩二",
    ),
    Scenario(
        "nordwerk-japan",
        K.INSTALLATION,
        Priority.P3,
        "Install and configure the new MFP in the engineering office (2F), including scan-to-folder.",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=124,
        categories=PRINT,
        notes="Unit installed, firmware updated, scan-to-folder and address book configured; users shown the panel.",
        labour_hours=Decimal("3.0"),
        signed_by="Julia Becker",
    ),
    Scenario(
        "towa-shoji",
        K.REMOVAL,
        Priority.P3,
        "リース満了に伴う複合機の撤去。HDDのデータ消去証明書の発行をお願いします。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=63,
        categories=PRINT,
        notes="HDDを上書き消去（3回）後に撤去。データ消去証明書を発行。",
        labour_hours=Decimal("1.0"),
        signed_by="伊藤 直子",
        extra={"erasure_method": ErasureMethod.OVERWRITE, "erasure_storage": "内蔵HDD 320GB"},
    ),
    Scenario(
        "minato-logistics",
        K.INSPECTION,
        Priority.P2,
        "特定自主検査（年次）の実施。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=47,
        categories=TRUCKS,
        notes="特定自主検査を実施し合格。検査標章を貼付。",
        labour_hours=Decimal("2.5"),
        signed_by="中村 浩二",
    ),
    Scenario(
        "nordwerk-japan",
        K.SERVICE_REQUEST,
        Priority.P3,
        "Scan to e-mail has failed since Monday: the panel shows 'SMTP authentication error'.",
        (S.ASSIGNED, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=33,
        categories=PRINT,
        source=WorkOrderSource.CUSTOMER_REQUEST,
        notes="The mail server's password had been rotated; updated the SMTP account and sent a test scan.",
        labour_hours=Decimal("0.5"),
        signed_by="Julia Becker",
    ),
    Scenario(
        "minato-logistics",
        K.CORRECTIVE,
        Priority.P1,
        "フォークリフトの油圧オイル漏れ。マストが上がらず走行を停止しています。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.ON_HOLD, S.IN_PROGRESS, S.COMPLETED, S.CLOSED),
        days_ago=19,
        categories=TRUCKS,
        pace=4.0,  # waited for a hose from the warehouse: resolution breached
        notes="リフトシリンダーの油圧ホースが破損。部品取り寄せ後に交換し、作動油を補充。漏れなし。",
        parts=(("", Decimal(1)),),
        labour_hours=Decimal("3.5"),
        downtime=True,
        signed_by="中村 浩二",
    ),
    Scenario(
        "towa-shoji",
        K.PREDICTIVE,
        Priority.P3,
        "予測：ブラックトナーが約5日で無くなる見込みです。交換をお願いします。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED),
        days_ago=12,
        categories=PRINT,
        source=WorkOrderSource.FORECAST,
        notes="ブラックトナーを交換。廃トナーボックスの残量も確認済み。",
        parts=(("", Decimal(1)),),
        labour_hours=Decimal("0.5"),
        signed_by="伊藤 直子",
    ),
    Scenario(
        "towa-shoji",
        K.CORRECTIVE,
        Priority.P3,
        "（重複登録）大阪支店の複合機エラー表示について。",
        (S.CANCELLED,),
        days_ago=9,
        categories=PRINT,
    ),
    Scenario(
        "nordwerk-japan",
        K.PREVENTIVE,
        Priority.P4,
        "Quarterly preventive maintenance: clean the scanner glass and check the fuser and transfer belt.",
        (),
        days_ago=2,
        categories=PRINT,
        source=WorkOrderSource.PREVENTIVE_PLAN,
    ),
    Scenario(
        "towa-shoji",
        K.CORRECTIVE,
        Priority.P3,
        "印刷物に縦の黒い線が入ります。",
        (S.ASSIGNED,),
        days_ago=1,
        categories=PRINT,
    ),
    Scenario(
        "minato-logistics",
        K.INSPECTION,
        Priority.P3,
        "月次点検（月例自主検査）の実施。",
        (S.ASSIGNED, S.EN_ROUTE),
        days_ago=0.2,
        categories=TRUCKS,
    ),
    Scenario(
        "nordwerk-japan",
        K.CORRECTIVE,
        Priority.P2,
        "Printer in the quality lab prints blank pages after a paper jam.",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS),
        days_ago=0.5,
        categories=PRINT,
    ),
    Scenario(
        "towa-shoji",
        K.CORRECTIVE,
        Priority.P2,
        "定着ユニットの異音。交換部品の入荷待ちです。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.ON_HOLD),
        days_ago=4,  # P2 resolves within a day: breached while it waits for the part
        categories=PRINT,
        downtime=True,
    ),
    Scenario(
        "minato-logistics",
        K.PREDICTIVE,
        Priority.P3,
        "予測：バッテリーの劣化が進んでいます。容量測定と交換の要否判断をお願いします。",
        (S.ASSIGNED, S.EN_ROUTE, S.IN_PROGRESS, S.COMPLETED),
        days_ago=3,
        source=WorkOrderSource.FORECAST,
        notes="容量測定の結果、定格の72%。次回定期点検時に交換を提案。",
        labour_hours=Decimal("1.0"),
        signed_by="中村 浩二",
    ),
    Scenario(
        "minato-logistics",
        K.SERVICE_REQUEST,
        Priority.P3,
        "リーチフォークの警告ランプが点灯したままです。確認をお願いします。",
        (),
        days_ago=0.1,
        categories=TRUCKS,
        source=WorkOrderSource.CUSTOMER_REQUEST,
    ),
)


def signature_png(name: str) -> bytes:
    """A handwriting-like stroke (the demo's stand-in for a signature drawn on the pad) as PNG bytes."""
    width, height = 360, 110
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    seed = sum(map(ord, name))
    points = [
        (
            20 + x,
            55 + 28 * math.sin(x / (11 + seed % 7)) * math.cos(x / (37 + seed % 5)) + 8 * math.sin(x / 3.1),
        )
        for x in range(0, width - 40, 3)
    ]
    draw.line(points, fill=(20, 30, 60, 255), width=3, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _history_technician(provider: Organisation) -> User:
    """The second demo technician (signs in with the technician's demo password; the login list names one per
    role)."""
    email, last_name, first_name = HISTORY_TECHNICIAN
    password = DEMO_PASSWORDS[Role.TECHNICIAN]
    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_create(
            organisation=provider,
            email=email,
            role=Role.TECHNICIAN,
            password=password,
            first_name=first_name,
            last_name=last_name,
        )
    return user


def _asset_for(customer: Organisation, categories: tuple[str, ...], used: set[int]) -> Asset | None:
    assets = Asset.objects.filter(customer=customer).select_related("site", "asset_model").order_by("pk")
    if categories:
        fitting = [asset for asset in assets if asset.asset_model.category in categories]
        assets = fitting or list(assets)
    assets = list(assets)
    fresh = [asset for asset in assets if asset.pk not in used]
    return (fresh or assets or [None])[0]


def _plan(scenario: Scenario, now: datetime.datetime) -> tuple[datetime.datetime, list[datetime.datetime]]:
    """When the order opens and when each of its steps happens: all in the past."""
    offsets, total = [], 0.0
    for status in scenario.steps:
        total += STEP_HOURS[status] * scenario.pace
        offsets.append(total)
    opened_at = min(now - datetime.timedelta(days=scenario.days_ago), now - datetime.timedelta(hours=total, minutes=15))
    return opened_at, [opened_at + datetime.timedelta(hours=offset) for offset in offsets]


def _backdate(work_order: WorkOrder, opened_at: datetime.datetime, times: list[datetime.datetime], now) -> None:
    """Demo back-dating: move the order's times and its timeline to the scenario's place in the past."""
    events = list(WorkOrderEvent.objects.filter(work_order=work_order).order_by("at", "id"))
    planned = list(zip(_status_changes(events), times, strict=False))
    moments: dict[str, datetime.datetime] = {}
    at, pointer = opened_at, 0
    for event in events:
        if event.from_status == "" and event.to_status == S.NEW:
            at = opened_at
        elif pointer < len(planned) and event.to_status == planned[pointer][0] and event.from_status != event.to_status:
            at = planned[pointer][1]
            pointer += 1
        else:
            at = at + datetime.timedelta(minutes=5)
        WorkOrderEvent.objects.filter(pk=event.pk).update(at=at)
        if event.to_status in (S.EN_ROUTE, S.IN_PROGRESS):
            moments.setdefault("responded_at", at)
        if event.to_status == S.COMPLETED:
            moments["completed_at"] = at
        if event.to_status == S.CLOSED:
            moments["closed_at"] = at
    work_order.refresh_from_db()
    delta = opened_at - work_order.created_at
    response_due = work_order.response_due_at + delta if work_order.response_due_at else None
    resolution_due = work_order.resolution_due_at + delta if work_order.resolution_due_at else None
    responded_at = moments.get("responded_at")
    completed_at = moments.get("completed_at") if work_order.completed_at else None
    closed_at = moments.get("closed_at") if work_order.closed_at else None
    finished = work_order.status in (S.COMPLETED, S.CLOSED, S.CANCELLED)
    fields = {
        "created_at": opened_at,
        "updated_at": at,
        "response_due_at": response_due,
        "resolution_due_at": resolution_due,
        "responded_at": responded_at,
        "completed_at": completed_at,
        "closed_at": closed_at,
        "response_breached": bool(
            response_due and work_order.status != S.CANCELLED and (responded_at or now) > response_due
        ),
        "resolution_breached": bool(
            resolution_due
            and work_order.status != S.CANCELLED
            and (completed_at or (now if not finished else resolution_due)) > resolution_due
        ),
    }
    if work_order.signed_at and completed_at:
        fields["signed_at"] = completed_at
    if work_order.down_from and completed_at:
        fields["down_until"] = completed_at
    if finished:
        fields["completion_report_sent_at"] = (closed_at or completed_at or at) + datetime.timedelta(minutes=1)
    WorkOrder.objects.filter(pk=work_order.pk).update(**fields)
    worked_at = responded_at or opened_at
    WorkOrderPart.objects.filter(work_order=work_order).update(added_at=worked_at)
    if completed_at:
        # Installed when the order was completed, at the counter of that moment (not of the day the demo is made).
        counter_then = (
            Reading.objects.valid()
            .filter(asset_id=OuterRef("asset_id"), meter=OuterRef("meter"), taken_at__lte=completed_at)
            .order_by("-taken_at", "-pk")
            .values("value")[:1]
        )
        PartInstallation.objects.filter(work_order=work_order).update(
            installed_at=completed_at, meter_value=Subquery(counter_then)
        )


def _status_changes(events: list[WorkOrderEvent]) -> list[str]:
    """The statuses of the order's status changes after its creation, in order."""
    return [event.to_status for event in events if event.from_status and event.from_status != event.to_status]


def _run(
    scenario: Scenario, *, customer: Organisation, asset: Asset, people: dict[str, User], now: datetime.datetime
) -> WorkOrder:
    dispatcher, technician = people["dispatcher"], people["technician"]
    # A customer's admin asks for service; forecasts and plans open orders themselves; the desk opens the rest.
    by = {
        WorkOrderSource.CUSTOMER_REQUEST: people.get(f"admin:{customer.pk}"),
        WorkOrderSource.MANUAL: dispatcher,
    }.get(scenario.source)
    opened_at, times = _plan(scenario, now)
    work_order = services.work_order_create(
        customer=customer,
        site=asset.site,
        asset=asset,
        kind=scenario.kind,
        priority=scenario.priority,
        source=scenario.source,
        description=scenario.description,
        by=by,
    )
    completed_time = times[scenario.steps.index(S.COMPLETED)] if S.COMPLETED in scenario.steps else None
    for status in scenario.steps:
        if status == S.ASSIGNED:
            services.work_order_assign(work_order=work_order, technician=technician, by=dispatcher)
        elif status == S.COMPLETED:
            _work(scenario, work_order=work_order, technician=technician, day=completed_time)
            downtime = {}
            if scenario.downtime:
                downtime = {"down_from": opened_at - datetime.timedelta(minutes=30), "down_until": completed_time}
            signature = {}
            if scenario.signed_by:
                signature = {
                    "signature": _data_url(signature_png(scenario.signed_by)),
                    "signed_by_name": scenario.signed_by,
                }
            services.work_order_complete(
                work_order=work_order,
                by=technician,
                notes=scenario.notes,
                damage_avoidable=False,
                **downtime,
                **signature,
                **scenario.extra,
            )
        elif status in (S.CANCELLED, S.CLOSED):
            services.work_order_transition(work_order=work_order, to_status=status, by=dispatcher)
        else:
            services.work_order_transition(work_order=work_order, to_status=status, by=technician)
    if scenario.downtime and S.COMPLETED not in scenario.steps:
        WorkOrder.objects.filter(pk=work_order.pk).update(down_from=opened_at - datetime.timedelta(minutes=30))
    _backdate(work_order, opened_at, times, now)
    return work_order


def _work(scenario: Scenario, *, work_order: WorkOrder, technician: User, day: datetime.datetime | None) -> None:
    """The checklist, parts and hours of a scenario, recorded as the technician would."""
    for item in work_order.checklist.all():
        work.checklist_item_check(item=item, result=ChecklistResult.OK, by=technician)
    fitting = list(work.part_types_for(asset=work_order.asset)[:5])
    for fragment, quantity in scenario.parts:
        part_type = next((part for part in fitting if fragment in part.name), None)
        if part_type is None:
            continue
        work.work_order_part_add(work_order=work_order, by=technician, part_type=part_type, quantity=quantity)
    if scenario.labour_hours:
        work.work_order_labour_add(
            work_order=work_order,
            by=technician,
            hours=scenario.labour_hours,
            date=timezone.localdate(day) if day else None,
        )


def seed_history(context: DemoContext) -> None:
    """Work orders of every kind and status over the past months (idempotent, keyed by description)."""
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    memberships = Membership.objects.filter(organisation=provider).select_related("user")
    dispatcher = memberships.filter(role=Role.SERVICE_DESK).first()
    if dispatcher is None:
        return
    people = {"dispatcher": dispatcher.user, "technician": _history_technician(provider)}
    customers = {customer.code: customer for customer in Organisation.objects.filter(provider=provider)}
    for admin in Membership.objects.filter(organisation__in=customers.values(), role=Role.CUSTOMER_ADMIN).order_by(
        "pk"
    ):
        people.setdefault(f"admin:{admin.organisation_id}", admin.user)
    existing = set(
        WorkOrder.objects.filter(provider=provider, description__in=[s.description for s in SCENARIOS]).values_list(
            "customer__code", "description"
        )
    )
    now = timezone.now()
    used: set[int] = set(
        WorkOrder.objects.filter(provider=provider).open().exclude(asset=None).values_list("asset_id", flat=True)
    )
    created = 0
    for scenario in SCENARIOS:
        customer = customers.get(scenario.customer)
        if customer is None or (scenario.customer, scenario.description) in existing:
            continue
        asset = _asset_for(customer, scenario.categories, used)
        if asset is None:
            continue
        with transaction.atomic():
            work_order = _run(scenario, customer=customer, asset=asset, people=people, now=now)
        if work_order.status not in (S.COMPLETED, S.CLOSED, S.CANCELLED):
            used.add(asset.pk)
        created += 1
    context.log(f"maintenance history: {created} work orders created")
