"""Demo work done: the provider's checklist templates, and work recorded on the technician's job in progress.

Templates for MFP corrective and preventive work, forklift preventive maintenance and any other corrective work
(a generic one); the open work orders the maintenance step opened before the templates existed get their
checklist, and the demo technician's order in progress has its first items checked and a part on it. The history
step (``maintenance.demo.history``) runs after this one and completes orders through the same services: parts,
labour, part installations, signatures and the erasure certificate of a removed MFP. Idempotent: templates are
keyed by name, and an order that already has a checklist or parts is left as it is.
"""

from accounts.choices import Role
from accounts.demo import PROVIDER_CODE
from accounts.models import Membership, Organisation
from assets.choices import AssetCategory
from fleet.demo import DemoContext
from maintenance import work
from maintenance.choices import ChecklistPurpose, ChecklistResult, WorkOrderKind, WorkOrderStatus
from maintenance.models import ChecklistTemplate, ChecklistTemplateItem, WorkOrder

# (name, kind, category, ((item, critical), ...))
TEMPLATES = (
    (
        "複合機 修理点検",
        WorkOrderKind.CORRECTIVE,
        AssetCategory.MFP,
        (
            ("エラー履歴・ジャム履歴を確認する", False),
            ("給紙経路とローラーを清掃する", False),
            ("定着ユニットの状態を点検する", False),
            ("テスト印刷（モノクロ・カラー）で画質を確認する", False),
            ("カウンター値を記録する", False),
        ),
    ),
    (
        "複合機 定期点検",
        WorkOrderKind.PREVENTIVE,
        AssetCategory.MFP,
        (
            ("外装・操作パネルを清掃する", False),
            ("給紙ローラー・分離パッドの摩耗を点検する", False),
            ("ドラム・現像ユニットの寿命を確認する", False),
            ("原稿読み取りガラス・ADFを清掃する", False),
            ("ファームウェアのバージョンを確認する", False),
            ("カウンター値を記録する", False),
        ),
    ),
    (
        "修理点検（共通）",
        WorkOrderKind.CORRECTIVE,
        "",
        (
            ("症状とエラー表示を確認する", False),
            ("原因を特定し、修理内容をお客様に説明する", False),
            ("修理後に動作を確認する", False),
        ),
    ),
    (
        "フォークリフト 定期点検",
        WorkOrderKind.PREVENTIVE,
        AssetCategory.FORKLIFT,
        (
            ("ブレーキ・駐車ブレーキの効きを確認する", True),
            ("マスト・リフトチェーンの損傷と張りを点検する", True),
            ("油圧系統の漏れを点検する", True),
            ("タイヤの摩耗・損傷を点検する", False),
            ("バッテリー液量と端子を点検する", False),
            ("ホーン・ライト・警告灯の作動を確認する", False),
            ("アワメーターを記録する", False),
        ),
    ),
)
CHECKED_ON_DEMO_ORDER = 2


def templates_ensure(provider: Organisation) -> int:
    """The provider's demo checklist templates, each created once (keyed by name); returns how many were new."""
    created = 0
    for name, kind, category, items in TEMPLATES:
        template, is_new = ChecklistTemplate.objects.get_or_create(
            provider=provider,
            name=name,
            defaults={"purpose": ChecklistPurpose.WORK_ORDER, "kind": kind, "category": category},
        )
        if is_new:
            ChecklistTemplateItem.objects.bulk_create(
                ChecklistTemplateItem(template=template, position=position, text=text, critical=critical)
                for position, (text, critical) in enumerate(items, start=1)
            )
            created += 1
    return created


def seed_work(context: DemoContext) -> None:
    provider = Organisation.objects.filter(code=PROVIDER_CODE).first()
    if provider is None:
        return
    created = templates_ensure(provider)
    open_orders = (
        WorkOrder.objects.filter(provider=provider, status__in=work.WORK_STATES, checklist__isnull=True)
        .select_related("asset__asset_model")
        .order_by("pk")
    )
    copied = sum(1 for work_order in open_orders if work.work_order_checklist_copy(work_order=work_order))

    technician = (
        Membership.objects.filter(organisation=provider, role=Role.TECHNICIAN)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    recorded = 0
    if technician is not None:
        in_progress = (
            WorkOrder.objects.filter(
                assigned_to=technician.user, status=WorkOrderStatus.IN_PROGRESS, parts__isnull=True
            )
            .select_related("asset__asset_model")
            .order_by("pk")
            .first()
        )
        if in_progress is not None:
            for item in in_progress.checklist.order_by("position", "pk")[:CHECKED_ON_DEMO_ORDER]:
                work.checklist_item_check(item=item, result=ChecklistResult.OK, by=technician.user)
            part_type = work.part_types_for(asset=in_progress.asset).first()
            if part_type is not None:
                work.work_order_part_add(work_order=in_progress, by=technician.user, part_type=part_type)
            recorded = 1
    context.log(
        f"maintenance work: {created} checklist templates created, {copied} checklists copied, "
        f"{recorded} order with work recorded"
    )
