"""Demo approvals: the provider's approval limits, one customer's own, and two forklift repairs above them.

The provider's defaults are a not-to-exceed amount of ¥50,000, a repair-or-replace review above ¥300,000 and a
labour rate of ¥8,000 an hour; みなと物流 has its own not-to-exceed amount of ¥100,000. On one of its forklifts an
earlier repair (¥160,000) was approved by its admin and done months ago by the history's second technician
(parts and labour on record; demo back-dating only), and a drive-motor repair of ¥480,000 with a replacement
quote now waits for the decision of admin@minato-logistics.example, with repair-or-replace offered. Seeding
e-mails nobody. Idempotent: the settings are set as stated, and a work order whose description the customer
already has is left alone.
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.choices import Role
from accounts.demo import DEMO_PASSWORDS, PROVIDER_CODE
from accounts.models import Membership, Organisation, User
from accounts.services import user_create
from assets.choices import AssetCategory
from assets.models import Asset
from fleet.demo import DemoContext
from maintenance import approvals, services
from maintenance.choices import ApprovalStatus, Priority, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.demo.history import HISTORY_TECHNICIAN
from maintenance.models import MaintenanceSettings, WorkOrder, WorkOrderEvent, WorkOrderLabour, WorkOrderPart

CUSTOMER_CODE = "minato-logistics"
PROVIDER_DEFAULTS = {
    "not_to_exceed": Decimal("50000"),
    "replace_review_above": Decimal("300000"),
    "labour_rate": Decimal("8000"),
}
CUSTOMER_LIMIT = Decimal("100000")
PAST_REPAIR = "リフトチェーン摩耗・マスト異音。チェーン2本とローラーを交換。"
PENDING_REPAIR = "走行モーター焼損。走行モーターとコントローラーの交換が必要です。"
PAST_DAYS = 120


def seed_approvals(context: DemoContext) -> None:
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    customer = Organisation.objects.filter(code=CUSTOMER_CODE).first()
    MaintenanceSettings.objects.update_or_create(
        organisation=provider, defaults={"currency": "JPY", **PROVIDER_DEFAULTS}
    )
    if customer is None:
        return
    MaintenanceSettings.objects.update_or_create(
        organisation=customer, defaults={"currency": "JPY", "not_to_exceed": CUSTOMER_LIMIT}
    )
    memberships = Membership.objects.select_related("user")
    desk = memberships.get(organisation=provider, role=Role.SERVICE_DESK).user
    technician = _history_technician(provider)
    admin = memberships.filter(organisation=customer, role=Role.CUSTOMER_ADMIN).order_by("user__email").first()
    forklift = (
        Asset.objects.filter(customer=customer, asset_model__category=AssetCategory.FORKLIFT)
        .select_related("site")
        .order_by("install_date", "serial_number")
        .first()
    )
    if admin is None or forklift is None:
        return
    created = 0
    if not WorkOrder.objects.filter(customer=customer, description=PAST_REPAIR).exists():
        _past_repair(forklift=forklift, desk=desk, technician=technician, admin=admin.user, today=context.today)
        created += 1
    if not WorkOrder.objects.filter(customer=customer, description=PENDING_REPAIR).exists():
        work_order = services.work_order_create(
            customer=customer,
            site=forklift.site,
            asset=forklift,
            kind=WorkOrderKind.CORRECTIVE,
            priority=Priority.P2,
            source=WorkOrderSource.MANUAL,
            description=PENDING_REPAIR,
            by=desk,
        )
        approvals.work_order_estimate(
            work_order=work_order,
            amount=Decimal("480000"),
            replacement_quote=Decimal("3600000"),
            by=desk,
            note="診断済み。部品手配は承認後。",
            notify=False,
        )
        created += 1
    context.log(f"maintenance approvals: limits set, {created} work orders created")


def _history_technician(provider: Organisation) -> User:
    """The demo's second technician, who holds the finished work (the history step lists the login)."""
    email, last_name, first_name = HISTORY_TECHNICIAN
    user = User.objects.filter(email=email).first()
    if user is None:
        user = user_create(
            organisation=provider,
            email=email,
            role=Role.TECHNICIAN,
            password=DEMO_PASSWORDS[Role.TECHNICIAN],
            first_name=first_name,
            last_name=last_name,
        )
    return user


def _past_repair(*, forklift: Asset, desk, technician, admin, today: datetime.date) -> None:
    """An approved repair done ``PAST_DAYS`` ago, with its parts and labour (back-dated)."""
    work_order = services.work_order_create(
        customer=forklift.customer,
        site=forklift.site,
        asset=forklift,
        kind=WorkOrderKind.CORRECTIVE,
        priority=Priority.P3,
        source=WorkOrderSource.MANUAL,
        description=PAST_REPAIR,
        by=desk,
    )
    services.work_order_assign(work_order=work_order, technician=technician, by=desk)
    approvals.work_order_estimate(
        work_order=work_order, amount=Decimal("160000"), by=desk, note="チェーン交換の見積り。", notify=False
    )
    approvals.work_order_approval_decide(
        work_order=work_order, decision=ApprovalStatus.APPROVED, by=admin, note="承認します。"
    )
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    now = timezone.now()
    WorkOrderPart.objects.create(
        work_order=work_order,
        description="リフトチェーン",
        quantity=Decimal("2"),
        unit_cost=Decimal("42000"),
        added_by=technician,
        added_at=now,
        replaces_installed=False,
    )
    WorkOrderPart.objects.create(
        work_order=work_order,
        description="マストローラー",
        quantity=Decimal("4"),
        unit_cost=Decimal("6500"),
        added_by=technician,
        added_at=now,
        replaces_installed=False,
    )
    WorkOrderLabour.objects.create(
        work_order=work_order, technician=technician, date=today, hours=Decimal("5.5"), rate=Decimal("8000")
    )
    # The completion report counts as sent: seeding e-mails nobody.
    WorkOrder.objects.filter(pk=work_order.pk).update(completion_report_sent_at=now)
    work_order.refresh_from_db()
    services.work_order_complete(work_order=work_order, by=technician, notes="チェーンとローラーを交換、動作確認済み。")
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CLOSED, by=desk)

    shift = datetime.timedelta(days=PAST_DAYS)
    work_order.refresh_from_db()
    WorkOrder.objects.filter(pk=work_order.pk).update(
        created_at=work_order.created_at - shift,
        response_due_at=work_order.response_due_at - shift if work_order.response_due_at else None,
        resolution_due_at=work_order.resolution_due_at - shift if work_order.resolution_due_at else None,
        responded_at=work_order.responded_at - shift if work_order.responded_at else None,
        approval_decided_at=work_order.approval_decided_at - shift,
        completed_at=work_order.completed_at - shift,
        closed_at=work_order.closed_at - shift,
        completion_report_sent_at=work_order.closed_at - shift,
    )
    for event in WorkOrderEvent.objects.filter(work_order=work_order):
        WorkOrderEvent.objects.filter(pk=event.pk).update(at=event.at - shift)
    WorkOrderPart.objects.filter(work_order=work_order).update(added_at=now - shift)
    WorkOrderLabour.objects.filter(work_order=work_order).update(date=today - shift)
