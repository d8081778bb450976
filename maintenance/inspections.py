"""QR labels, per-asset service links and pre-use inspections by forklift operators.

**Service links.** Every asset's QR label encodes the absolute URL of its service link
(``maintenance:service_link``), an unguessable token (``secrets.token_urlsafe(32)``) created on first use.
Rotating the link gives the asset a new token, so a printed label that was lost or copied stops working. A
visitor who is not signed in (or who does not see the asset) may only send a service request for that one asset
through it; at most ``PUBLIC_REQUESTS_PER_HOUR`` such requests per asset and hour. The count comes from the
work orders themselves: a request through the link is the only service request with no author
(``created_by`` empty), so no marker and no cache is needed, and the limit holds across processes. The link row
is locked while counting, so two requests at once cannot both pass the last free slot.

**Pre-use inspections (始業点検).** An operator checks the truck against the active pre-use checklist of the
asset's provider (one for the asset's model wins over one for its category, which wins over a generic one).
Failed items make the inspection fail. A failed *critical* item takes the truck out of service (in repair),
raises an alert (``telemetry.alerts.alert_raise_pre_use_failure``) and opens a corrective work order for that
alert (source "alert", priority by the alert's severity, as alerts' work orders get), all in one transaction.
The order is the alert's order, so the alert sweep never opens a second one. Failed items that are not critical
open a P3 corrective order (source "customer request": the customer's operator reported it) unless the truck
already has an open order from a pre-use inspection. The operator's hour meter is kept on the inspection; it
also becomes a manual meter read when the submitter's role may enter reads (customer operators may not).

**Operator report.** Per operator over a period: inspections, failed ones, critical failures, trucks inspected
and impacts. An impact (a diagnostic event with a g-force that is not a "cleared" report) is attributed to the
operator whose latest pre-use inspection of that truck on the same local day (the site's time zone) came before
it; an impact with no such inspection is counted as unattributed.
"""

import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, DateField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.choices import Role
from accounts.models import Organisation, User
from accounts.roles import Capability
from assets.choices import AssetStatus
from assets.models import Asset, Site
from assets.services import asset_change_status
from fleet.filters import SearchFilterSet
from fleet.tenancy import access_for, organisations_visible_to, visible
from maintenance.choices import WORK_ORDER_OPEN_STATES, ChecklistPurpose, Priority, WorkOrderKind, WorkOrderSource
from maintenance.models import (
    AssetServiceLink,
    ChecklistTemplate,
    ChecklistTemplateItem,
    PreUseInspection,
    PreUseInspectionItem,
    WorkOrder,
)
from maintenance.services import ALERT_PRIORITIES, work_order_create
from telemetry.alerts import alert_raise_pre_use_failure
from telemetry.choices import Meter
from telemetry.models import DiagnosticEvent

PUBLIC_REQUESTS_PER_HOUR = 5
PUBLIC_PRIORITIES = (Priority.P3, Priority.P2)
# Trucks an operator may inspect: one in repair, in storage or retired is not to be driven.
INSPECTABLE_STATES = (AssetStatus.ACTIVE, AssetStatus.STANDBY)
REPORT_DEFAULT_DAYS = 30
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
REPORT_MAX_DAYS = 366

NOT_ALLOWED_TO_ROTATE = _("You may not replace this asset's QR label.")
TOO_MANY_PUBLIC_REQUESTS = _(
    "Several requests were already sent for this equipment in the last hour. Please call your service provider."
)
PRIORITY_NOT_OFFERED = _("Choose normal or high.")
NOT_ALLOWED_TO_INSPECT = _("You may not record a pre-use inspection of this asset.")
NO_PRE_USE_CHECKLIST = _("No pre-use checklist is set up for this asset. Ask your service provider.")
TRUCK_NOT_IN_SERVICE = _("This truck is out of service and must not be used.")
ANSWERS_INCOMPLETE = _("Answer every item of the checklist.")
ANSWER_UNKNOWN_ITEM = _("Item %(item)s is not on this asset's checklist.")
ANSWER_TWICE = _("Item %(item)s was answered twice.")
HOUR_METER_NEGATIVE = _("The hour meter cannot be negative.")
HOUR_METER_INVALID = _("Give the hour meter as a number, e.g. 1234.5.")
REPORT_PERIOD_REVERSED = _("The period ends before it starts.")
REPORT_PERIOD_TOO_LONG = _("Choose a period of at most a year.")


# --- Service links ----------------------------------------------------------------------------------------------


def service_link_for(*, asset: Asset) -> AssetServiceLink:
    """The asset's service link, created with a new token on first use."""
    link = AssetServiceLink.objects.filter(asset=asset).first()
    if link is not None:
        return link
    try:
        with transaction.atomic():
            return AssetServiceLink.objects.create(asset=asset, token=secrets.token_urlsafe(32))
    except IntegrityError:  # created meanwhile by a concurrent request
        return AssetServiceLink.objects.get(asset=asset)


def may_rotate_service_link(*, user: User | None, asset: Asset) -> bool:
    """The customer's admins, and provider staff who manage assets, may replace an asset's label."""
    access = access_for(user)
    if access is None:
        return False
    if access.role == Role.CUSTOMER_ADMIN:
        return access.organisation_id == asset.customer_id
    return (
        access.is_provider_staff
        and access.can(Capability.MANAGE_ASSETS)
        and Asset.objects.visible_to(user).filter(pk=asset.pk).exists()
    )


@transaction.atomic
def service_link_rotate(*, asset: Asset, by: User) -> AssetServiceLink:
    """Give the asset a new token: the old label's link stops working (print a new label)."""
    if not may_rotate_service_link(user=by, asset=asset):
        raise ValidationError(NOT_ALLOWED_TO_ROTATE)
    link = service_link_for(asset=asset)
    link = AssetServiceLink.objects.select_for_update().get(pk=link.pk)
    link.token = secrets.token_urlsafe(32)
    link.rotated_at = timezone.now()
    link.save(update_fields=["token", "rotated_at"])
    return link


def service_link_lookup(*, token: str) -> AssetServiceLink | None:
    """The link of ``token`` with its asset, site and customer; None for an unknown, replaced or retired one."""
    if not token or len(token) > 64:
        return None
    return (
        AssetServiceLink.objects.select_related("asset__site", "asset__customer", "asset__asset_model")
        .filter(token=token, asset__customer__is_active=True)
        .exclude(asset__status=AssetStatus.RETIRED)
        .first()
    )


def _public_requests(asset: Asset, since: datetime) -> QuerySet[WorkOrder]:
    """Service requests for ``asset`` with no author since ``since``: those sent through its service link."""
    return WorkOrder.objects.filter(
        asset=asset,
        kind=WorkOrderKind.SERVICE_REQUEST,
        source=WorkOrderSource.CUSTOMER_REQUEST,
        created_by__isnull=True,
        created_at__gte=since,
    )


@transaction.atomic
def service_link_request_create(
    *, link: AssetServiceLink, name: str, contact: str, description: str, priority: str = Priority.P3
) -> WorkOrder:
    """A service request for the link's asset (and only that asset) from someone who scanned its label."""
    if priority not in PUBLIC_PRIORITIES:
        raise ValidationError({"priority": PRIORITY_NOT_OFFERED})
    link = (
        AssetServiceLink.objects.select_for_update(of=("self",))
        .select_related("asset__site", "asset__customer")
        .get(pk=link.pk)
    )
    asset = link.asset
    if _public_requests(asset, timezone.now() - timedelta(hours=1)).count() >= PUBLIC_REQUESTS_PER_HOUR:
        raise ValidationError(TOO_MANY_PUBLIC_REQUESTS, code="rate_limited")
    with translation.override(asset.customer.language):
        header = _("Reported through the QR label by %(name)s (%(contact)s).") % {
            "name": name.strip(),
            "contact": contact.strip(),
        }
    return work_order_create(
        customer=asset.customer,
        site=asset.site,
        asset=asset,
        kind=WorkOrderKind.SERVICE_REQUEST,
        priority=priority,
        source=WorkOrderSource.CUSTOMER_REQUEST,
        description=f"{header}\n\n{description.strip()}",
        by=None,
    )


# --- Pre-use checklists ----------------------------------------------------------------------------------------


def pre_use_template_for(*, asset: Asset) -> ChecklistTemplate | None:
    """The active pre-use checklist of the asset's provider that fits it best: its model, its category, generic."""
    asset_model = asset.asset_model
    candidates = ChecklistTemplate.objects.filter(
        provider_id=asset.customer.provider_id, purpose=ChecklistPurpose.PRE_USE, active=True
    ).filter(
        Q(asset_model_id=asset.asset_model_id)
        | Q(asset_model__isnull=True, category=asset_model.category)
        | Q(asset_model__isnull=True, category="")
    )
    ranked = sorted(
        candidates,
        key=lambda template: (
            0 if template.asset_model_id else 1 if template.category else 2,
            -template.pk,
        ),
    )
    return ranked[0] if ranked else None


def pre_use_items(*, template: ChecklistTemplate) -> list[ChecklistTemplateItem]:
    return list(template.items.order_by("position", "id"))


def may_inspect(*, user: User | None, asset: Asset) -> bool:
    """Whether ``user`` may record a pre-use inspection of ``asset`` (the capability, and an asset they see)."""
    access = access_for(user)
    return (
        access is not None
        and access.can(Capability.PRE_USE_INSPECTIONS)
        and Asset.objects.visible_to(user).filter(pk=asset.pk).exists()
    )


@dataclass(frozen=True)
class PreUseAnswer:
    """An operator's answer to one checklist item."""

    item_id: int
    ok: bool
    note: str = ""


def _answers(raw: Iterable[PreUseAnswer | Mapping]) -> list[PreUseAnswer]:
    answers = []
    for answer in raw:
        if isinstance(answer, PreUseAnswer):
            answers.append(answer)
        else:
            answers.append(
                PreUseAnswer(item_id=answer["item_id"], ok=bool(answer["ok"]), note=answer.get("note") or "")
            )
    return answers


def _check_answers(items: list[ChecklistTemplateItem], answers: list[PreUseAnswer]) -> dict[int, PreUseAnswer]:
    by_item: dict[int, PreUseAnswer] = {}
    errors = []
    known = {item.pk for item in items}
    for answer in answers:
        if answer.item_id not in known:
            errors.append(ValidationError(ANSWER_UNKNOWN_ITEM, params={"item": answer.item_id}))
        elif answer.item_id in by_item:
            errors.append(ValidationError(ANSWER_TWICE, params={"item": answer.item_id}))
        else:
            by_item[answer.item_id] = answer
    if not errors and set(by_item) != known:
        errors.append(ValidationError(ANSWERS_INCOMPLETE))
    if errors:
        raise ValidationError({"answers": errors})
    return by_item


def _hour_meter(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError({"hour_meter": HOUR_METER_INVALID}) from exc
    if not number.is_finite() or abs(number) >= Decimal("1e11"):
        raise ValidationError({"hour_meter": HOUR_METER_INVALID})
    if number < 0:
        raise ValidationError({"hour_meter": HOUR_METER_NEGATIVE})
    return number.quantize(Decimal("0.1"))


def _operator_name(user: User) -> str:
    return user.get_full_name() or user.email


def _failed_summary(failed: list[tuple[ChecklistTemplateItem, PreUseAnswer]]) -> str:
    return "; ".join(f"{item.text}: {answer.note}" if answer.note else item.text for item, answer in failed)


def _open_pre_use_order(asset: Asset) -> WorkOrder | None:
    return WorkOrder.objects.open().filter(asset=asset, pre_use_inspection__isnull=False).order_by("-pk").first()


def _critical_work_order(*, asset: Asset, alert, description: str) -> WorkOrder | None:
    """The alert's corrective order: opened now, or none when the (repeated) alert already has an open one."""
    existing = WorkOrder.objects.filter(alert=alert).first()
    if existing is not None and existing.status in WORK_ORDER_OPEN_STATES:
        return None
    return work_order_create(
        customer=asset.customer,
        site=asset.site,
        asset=asset,
        kind=WorkOrderKind.CORRECTIVE,
        priority=ALERT_PRIORITIES.get(alert.severity, Priority.P2),
        source=WorkOrderSource.ALERT,
        description=description,
        alert=alert if existing is None else None,
    )


@transaction.atomic
def pre_use_inspection_submit(
    *,
    asset: Asset,
    operator: User,
    answers: Iterable[PreUseAnswer | Mapping],
    hour_meter: Decimal | str | None = None,
    note: str = "",
    performed_at: datetime | None = None,
) -> PreUseInspection:
    """Record an operator's pre-use inspection; a failed critical item takes the truck out of service."""
    if not may_inspect(user=operator, asset=asset):
        raise ValidationError(NOT_ALLOWED_TO_INSPECT)
    # The truck's row is locked: two operators at once see each other's result.
    asset = (
        Asset.objects.select_for_update(of=("self",)).select_related("site", "customer", "asset_model").get(pk=asset.pk)
    )
    if asset.status not in INSPECTABLE_STATES:
        raise ValidationError(TRUCK_NOT_IN_SERVICE)
    template = pre_use_template_for(asset=asset)
    if template is None:
        raise ValidationError(NO_PRE_USE_CHECKLIST)
    items = pre_use_items(template=template)
    by_item = _check_answers(items, _answers(answers))
    meter = _hour_meter(hour_meter)
    performed_at = performed_at or timezone.now()

    failed = [(item, by_item[item.pk]) for item in items if not by_item[item.pk].ok]
    critical = [(item, answer) for item, answer in failed if item.critical]
    inspection = PreUseInspection.objects.create(
        asset=asset,
        operator=operator,
        template=template,
        performed_at=performed_at,
        hour_meter=meter,
        passed=not failed,
        critical_failure=bool(critical),
        note=note.strip(),
    )
    PreUseInspectionItem.objects.bulk_create(
        [
            PreUseInspectionItem(
                inspection=inspection,
                position=position,
                text=item.text,
                critical=item.critical,
                ok=by_item[item.pk].ok,
                note=by_item[item.pk].note.strip()[:300],
            )
            for position, item in enumerate(items, 1)
        ]
    )
    access = access_for(operator)
    if meter is not None and access is not None and access.can(Capability.ENTER_METER_READS):
        from telemetry.ingest import meter_read_enter

        try:
            meter_read_enter(asset=asset, meter=Meter.HOURS_KEY_ON, taken_at=performed_at, value=meter, by=operator)
        except ValidationError as error:
            raise ValidationError({"hour_meter": error.messages}) from error

    if not failed:
        return inspection
    with translation.override(asset.customer.language):
        description = str(
            _("Pre-use inspection by %(operator)s failed: %(items)s")
            % {"operator": _operator_name(operator), "items": _failed_summary(failed)}
        )
        if inspection.note:
            description = f"{description}\n\n{inspection.note}"
        if critical:
            status_note = str(_("Out of service after a failed pre-use inspection by %(operator)s: %(items)s"))
            status_note %= {"operator": _operator_name(operator), "items": _failed_summary(critical)}
    if critical:
        # The operator's role does not manage assets: the inspection takes the truck out of service itself.
        asset_change_status(asset=asset, status=AssetStatus.IN_REPAIR, by=None, note=status_note[:500])
        inspection.alert = alert_raise_pre_use_failure(asset=asset, at=performed_at, message=_failed_summary(critical))
        inspection.work_order = _critical_work_order(asset=asset, alert=inspection.alert, description=description)
    elif _open_pre_use_order(asset) is None:
        inspection.work_order = work_order_create(
            customer=asset.customer,
            site=asset.site,
            asset=asset,
            kind=WorkOrderKind.CORRECTIVE,
            priority=Priority.P3,
            source=WorkOrderSource.CUSTOMER_REQUEST,
            description=description,
        )
    inspection.save(update_fields=["alert", "work_order"])
    return inspection


# --- Reads ------------------------------------------------------------------------------------------------------


def pre_use_inspection_list(*, user: User) -> QuerySet[PreUseInspection]:
    """Pre-use inspections the user may see, with what lists, pages, the API and exports show of them."""
    return PreUseInspection.objects.visible_to(user).select_related(
        "asset", "asset__site", "asset__asset_model", "asset__customer", "operator", "work_order", "alert"
    )


def pre_use_inspection_items(*, inspection: PreUseInspection) -> QuerySet[PreUseInspectionItem]:
    return inspection.items.order_by("position", "id")


def _visible_operators(request_or_user) -> QuerySet[User]:
    """Customer operators of the organisations the caller sees (the operator filter's choices)."""
    user = getattr(request_or_user, "user", request_or_user)
    if user is None:
        return User.objects.none()
    organisations = organisations_visible_to(Organisation.objects.all(), user).values("pk")
    return User.objects.filter(
        membership__role=Role.CUSTOMER_OPERATOR, membership__organisation_id__in=organisations
    ).order_by("last_name", "first_name", "email")


RESULT_PASSED, RESULT_FAILED, RESULT_CRITICAL = "passed", "failed", "critical"


class PreUseInspectionFilterSet(SearchFilterSet):
    """Filters of the pre-use inspection list (page and API)."""

    search_fields = ("asset__serial_number", "asset__asset_tag", "operator__email", "operator__last_name", "note")
    narrowed_by = {"asset": "site"}
    provider_only_filters = ("customer",)
    customer = django_filters.ModelChoiceFilter(
        field_name="asset__customer", queryset=visible(Organisation.objects.customers()), label=_("Customer")
    )
    site = django_filters.ModelChoiceFilter(
        field_name="asset__site", queryset=visible(Site.objects.all()), label=_("Site")
    )
    asset = django_filters.ModelChoiceFilter(
        queryset=visible(Asset.objects.order_by("serial_number")), label=_("Asset")
    )
    operator = django_filters.ModelChoiceFilter(queryset=_visible_operators, label=_("Operator"))
    result = django_filters.ChoiceFilter(
        choices=[
            (RESULT_PASSED, _("Passed")),
            (RESULT_FAILED, pgettext_lazy("inspection result", "Failed")),
            (RESULT_CRITICAL, _("Critical failure")),
        ],
        method="filter_result",
        label=_("Result"),
    )
    performed_from = django_filters.DateFilter(
        field_name="performed_at", lookup_expr="date__gte", label=_("From"), widget=DATE_WIDGET
    )
    performed_to = django_filters.DateFilter(
        field_name="performed_at", lookup_expr="date__lte", label=_("To"), widget=DATE_WIDGET
    )

    class Meta:
        model = PreUseInspection
        fields = ["customer", "site", "asset", "operator", "result", "performed_from", "performed_to"]

    def filter_result(self, queryset, name, value):
        if value == RESULT_PASSED:
            return queryset.filter(passed=True)
        if value == RESULT_FAILED:
            return queryset.filter(passed=False)
        return queryset.filter(critical_failure=True)


# --- The operator report ------------------------------------------------------------------------------------------


def may_see_operator_report(user: User | None) -> bool:
    """Roles that download reports: customer admins, account managers and provider admins."""
    access = access_for(user)
    return access is not None and access.can(Capability.DOWNLOAD_REPORTS)


@dataclass
class OperatorReportRow:
    operator_id: int
    name: str
    email: str
    inspections: int = 0
    failed: int = 0
    critical: int = 0
    trucks: int = 0
    impacts: int = 0


@dataclass
class OperatorReport:
    start: date
    end: date
    time_zone: str
    rows: list[OperatorReportRow] = field(default_factory=list)
    unattributed_impacts: int = 0

    @property
    def totals(self) -> OperatorReportRow:
        return OperatorReportRow(
            operator_id=0,
            name="",
            email="",
            inspections=sum(row.inspections for row in self.rows),
            failed=sum(row.failed for row in self.rows),
            critical=sum(row.critical for row in self.rows),
            trucks=0,
            impacts=sum(row.impacts for row in self.rows),
        )


def report_time_zone(*, user: User) -> str:
    """The time zone a user's periods are in: their organisation's."""
    access = access_for(user)
    if access is None:
        return "UTC"
    return Organisation.objects.filter(pk=access.organisation_id).values_list("time_zone", flat=True).first() or "UTC"


def report_period(*, start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The period asked for (inclusive dates), by default the last 30 days up to today."""
    end = end or today
    start = start or end - timedelta(days=REPORT_DEFAULT_DAYS - 1)
    if end < start:
        raise ValidationError({"to": REPORT_PERIOD_REVERSED})
    if (end - start).days >= REPORT_MAX_DAYS:
        raise ValidationError({"from": REPORT_PERIOD_TOO_LONG})
    return start, end


def _local_day(field_name: str, zones: list[str]) -> Case:
    """The local date of ``field_name`` in the time zone of the row's site (one of ``zones``)."""
    site_zone = "asset__site__time_zone"
    return Case(
        *[
            When(**{site_zone: zone}, then=TruncDate(field_name, tzinfo=ZoneInfo(zone), output_field=DateField()))
            for zone in zones
        ],
        default=Value(None, output_field=DateField()),
        output_field=DateField(),
    )


def operator_report(*, user: User, start: date, end: date, time_zone: str = "UTC") -> OperatorReport:
    """Inspections and impacts per operator in the period (dates inclusive, in ``time_zone``); four queries."""
    zone = ZoneInfo(time_zone)
    since = datetime.combine(start, datetime.min.time(), tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    inspections = PreUseInspection.objects.visible_to(user).filter(performed_at__gte=since, performed_at__lt=until)
    report = OperatorReport(start=start, end=end, time_zone=time_zone)
    rows = {
        row["operator_id"]: OperatorReportRow(
            operator_id=row["operator_id"],
            name=f"{row['operator__last_name']} {row['operator__first_name']}".strip(),
            email=row["operator__email"],
            inspections=row["done"],
            failed=row["failed"],
            critical=row["critical"],
            trucks=row["trucks"],
        )
        for row in inspections.values("operator_id", "operator__last_name", "operator__first_name", "operator__email")
        .annotate(
            done=Count("pk"),
            failed=Count("pk", filter=Q(passed=False)),
            critical=Count("pk", filter=Q(critical_failure=True)),
            trucks=Count("asset_id", distinct=True),
        )
        .order_by()
    }
    zones = sorted(set(inspections.values_list("asset__site__time_zone", flat=True).distinct().order_by()))
    if zones:
        latest_before = (
            PreUseInspection.objects.filter(asset_id=OuterRef("asset_id"), performed_at__lte=OuterRef("occurred_at"))
            .alias(day=_local_day("performed_at", zones))
            .filter(day=OuterRef("day"))
            .order_by("-performed_at", "-pk")
            .values("operator_id")[:1]
        )
        impacts = (
            DiagnosticEvent.objects.visible_to(user)
            .filter(
                occurred_at__gte=since,
                occurred_at__lt=until,
                g_force__isnull=False,
                cleared=False,
                asset_id__in=inspections.values("asset_id"),
            )
            .alias(day=_local_day("occurred_at", zones))
            .annotate(attributed=Subquery(latest_before))
            .values_list("attributed", flat=True)
            .order_by()
        )
        counts = Counter(impacts)
        report.unattributed_impacts = counts.pop(None, 0)
        missing = set(counts) - set(rows)
        if missing:  # an operator whose inspection fell in the period in their site's zone, not in the report's
            for operator in User.objects.filter(pk__in=missing):
                rows[operator.pk] = OperatorReportRow(
                    operator_id=operator.pk,
                    name=f"{operator.last_name} {operator.first_name}".strip(),
                    email=operator.email,
                )
        for operator_id, count in counts.items():
            rows[operator_id].impacts = count
    report.rows = sorted(rows.values(), key=lambda row: (row.name.lower(), row.email))
    return report
