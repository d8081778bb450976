"""Service levels in business hours: due times, SLA state, the breach sweep and its notifications.

**Business hours.** A service level with ``business_hours_only`` counts its response and resolution hours in the
opening hours of a business calendar: the calendar of the work order's site (``SiteCalendar``), else the service
level's own calendar. Without either (or with ``business_hours_only`` off) hours are calendar hours, around the
clock. Opening hours are local times of the site's time zone (``Site.time_zone``); closures and the public
holidays of the calendar's country (the ``holidays`` package) are closed all day. Arithmetic runs on UTC
instants built from local wall times, so a day that changes to or from daylight-saving time has its true length.
The functions walk day by day (a P4 of 168 business hours is about thirty days), bounded by ``MAX_DAYS``.

**SLA state** of a work order (``SlaState``): *none* when it is not open or has no due times; *breached* when a
breach was flagged, its resolution is past due, or its response is past due with no response yet; *at risk* when
``at_risk_percent`` of the wall-clock window from creation to resolution due has passed; else *on track*.
``with_sla_state`` is the rule as one queryset annotation (filters, sorting, the board, counts);
``sla_state_of`` is the same rule for one loaded order. Tests hold the two together.

**Breaches.** ``sla_sweep`` (beat every five minutes, ``manage.py sla_sweep``) flags open orders past their
response (still unanswered) or resolution time, once, and e-mails each provider's service desk and admins one
digest of the orders newly breached; ``breach_notified_at`` keeps anyone from being told twice. An order
completed late gets its flags at completion (``work_order_mark_breaches``, called by the completing service).
"""

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.choices import Role
from accounts.models import Membership, Organisation, User
from accounts.roles import Capability
from assets.models import Site
from fleet.tenancy import access_for
from maintenance.choices import WORK_ORDER_OPEN_STATES, Priority, SlaState, WorkOrderStatus
from maintenance.models import (
    BusinessCalendar,
    BusinessClosure,
    BusinessHours,
    ServiceLevel,
    SiteCalendar,
    WorkOrder,
)

logger = logging.getLogger(__name__)

MAX_DAYS = 5 * 366  # no due time lies further away than this; a calendar that never opens counts calendar hours
DEFAULT_AT_RISK_PERCENT = 75
DIGEST_MAX_LINES = 50
SWEEP_LIMIT = 5000  # orders flagged per sweep; the next sweep takes the rest

NOT_ALLOWED_TO_MANAGE = _("You may not manage service levels and business calendars.")
RESOLUTION_BEFORE_RESPONSE = _("The resolution time cannot be shorter than the response time.")
DEFAULT_EXISTS = _("There is already a default service level; choose a customer.")
CUSTOMER_HAS_LEVEL = _("This customer already has a service level.")
CUSTOMER_NOT_OURS = _("Choose one of your customers.")
CALENDAR_NOT_USABLE = _("Choose a calendar of your own or of this customer.")
CALENDAR_CUSTOMER_FIXED = _("A calendar in use by another customer's service level or site cannot change customer.")
HOURS_OVERLAP = _("The opening hours of a day overlap.")
HOURS_REVERSED = _("A day's opening must come before its closing.")
CLOSURE_TWICE = _("The same day is closed twice.")
UNKNOWN_COUNTRY = _("There is no list of public holidays for this country.")
SITE_NOT_VISIBLE = _("Choose one of your customers' sites.")


# --- Business-hours arithmetic ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessSchedule:
    """A business calendar read into memory: opening intervals per weekday (0 = Monday), closed days and the
    country whose public holidays are closed."""

    hours: dict[int, tuple[tuple[datetime.time, datetime.time], ...]] = field(default_factory=dict)
    closed: frozenset[datetime.date] = frozenset()
    holiday_country: str = ""

    @property
    def ever_open(self) -> bool:
        return any(self.hours.values())

    def is_closed(self, day: datetime.date) -> bool:
        if day in self.closed:
            return True
        return bool(self.holiday_country) and day in _public_holidays(self.holiday_country, day.year)


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int) -> frozenset[datetime.date]:
    try:
        return frozenset(holidays.country_holidays(country.upper(), years=year))
    except NotImplementedError:
        logger.warning("No public holidays are known for country %r.", country)
        return frozenset()


def holiday_country_known(country: str) -> bool:
    try:
        holidays.country_holidays(country.upper())
    except NotImplementedError:
        return False
    return True


def business_schedule(calendar: BusinessCalendar | BusinessSchedule | None) -> BusinessSchedule | None:
    """The schedule of ``calendar`` (its ``hours`` and ``closures``, prefetched or read now)."""
    if calendar is None or isinstance(calendar, BusinessSchedule):
        return calendar
    hours: dict[int, list[tuple[datetime.time, datetime.time]]] = defaultdict(list)
    for row in calendar.hours.all():
        hours[row.weekday].append((row.opens, row.closes))
    return BusinessSchedule(
        hours={weekday: tuple(sorted(intervals)) for weekday, intervals in hours.items()},
        closed=frozenset(closure.date for closure in calendar.closures.all()),
        holiday_country=calendar.holiday_country,
    )


def _zone(tz) -> datetime.tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _as_delta(hours) -> datetime.timedelta:
    if isinstance(hours, datetime.timedelta):
        return hours
    return datetime.timedelta(microseconds=int(Decimal(str(hours)) * 3_600_000_000))


def _open_intervals(schedule: BusinessSchedule, start: datetime.datetime, zone) -> Iterable[tuple]:
    """The schedule's open intervals as UTC instants, day by day from ``start``'s local day, for ``MAX_DAYS``."""
    day = start.astimezone(zone).date()
    for _offset in range(MAX_DAYS):
        if not schedule.is_closed(day):
            for opens, closes in schedule.hours.get(day.weekday(), ()):
                yield (
                    datetime.datetime.combine(day, opens, tzinfo=zone).astimezone(datetime.UTC),
                    datetime.datetime.combine(day, closes, tzinfo=zone).astimezone(datetime.UTC),
                )
        day += datetime.timedelta(days=1)


def add_business_hours(
    start: datetime.datetime, hours, *, calendar: BusinessCalendar | BusinessSchedule | None, tz
) -> datetime.datetime:
    """The instant ``hours`` business hours after ``start`` (aware); calendar hours without a calendar.

    A start outside opening hours counts from the next opening; a due time that falls exactly on a closing is
    that closing (not the next opening). Zero hours is ``start`` itself."""
    remaining = _as_delta(hours)
    schedule = business_schedule(calendar)
    if remaining <= datetime.timedelta(0):
        return start
    if schedule is None or not schedule.ever_open:
        return (start.astimezone(datetime.UTC) + remaining).astimezone(datetime.UTC)
    cursor = start.astimezone(datetime.UTC)
    for opens, closes in _open_intervals(schedule, start, _zone(tz)):
        if closes <= cursor:
            continue
        begin = max(opens, cursor)
        available = closes - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    logger.warning("No due time within %s days of %s; counting calendar hours.", MAX_DAYS, start)
    return cursor + remaining


def business_hours_between(
    start: datetime.datetime, end: datetime.datetime, *, calendar: BusinessCalendar | BusinessSchedule | None, tz
) -> datetime.timedelta:
    """The business time between two instants (zero when ``end`` is not after ``start``)."""
    schedule = business_schedule(calendar)
    if end <= start:
        return datetime.timedelta(0)
    if schedule is None or not schedule.ever_open:
        return end - start
    start_utc, end_utc = start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)
    total = datetime.timedelta(0)
    for opens, closes in _open_intervals(schedule, start, _zone(tz)):
        if opens >= end_utc:
            break
        overlap = min(closes, end_utc) - max(opens, start_utc)
        if overlap > datetime.timedelta(0):
            total += overlap
    return total


# --- Due times --------------------------------------------------------------------------------------------------


def calendar_for(*, site: Site, service_level: ServiceLevel | None) -> BusinessCalendar | None:
    """The calendar a work order on ``site`` counts in: the site's, else the service level's; None for
    calendar hours (no service level, or one counted around the clock)."""
    if service_level is None or not service_level.business_hours_only:
        return None
    site_calendar = (
        SiteCalendar.objects.filter(site_id=site.pk)
        .select_related("calendar")
        .prefetch_related("calendar__hours", "calendar__closures")
        .first()
    )
    if site_calendar is not None:
        return site_calendar.calendar
    if service_level.calendar_id is None:
        return None
    return BusinessCalendar.objects.prefetch_related("hours", "closures").filter(pk=service_level.calendar_id).first()


def due_times(*, work_order: WorkOrder) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """Response and resolution due of an order from its creation, priority, service level and site."""
    service_level = work_order.service_level
    if service_level is None:
        return None, None
    calendar = business_schedule(calendar_for(site=work_order.site, service_level=service_level))
    tz = work_order.site.time_zone
    start = work_order.created_at
    return (
        add_business_hours(start, service_level.response_hours(work_order.priority), calendar=calendar, tz=tz),
        add_business_hours(start, service_level.resolution_hours(work_order.priority), calendar=calendar, tz=tz),
    )


def work_order_mark_breaches(*, work_order: WorkOrder, now: datetime.datetime) -> list[str]:
    """Flag the breaches of an order being completed at ``now``; returns the fields it changed."""
    changed = []
    responded = work_order.responded_at or now
    if not work_order.response_breached and work_order.response_due_at and responded > work_order.response_due_at:
        work_order.response_breached = True
        changed.append("response_breached")
    if not work_order.resolution_breached and work_order.resolution_due_at and now > work_order.resolution_due_at:
        work_order.resolution_breached = True
        changed.append("resolution_breached")
    return changed


# --- SLA state --------------------------------------------------------------------------------------------------

SLA_RANK = {SlaState.BREACHED: 0, SlaState.AT_RISK: 1, SlaState.ON_TRACK: 2, SlaState.NONE: 3}


def _breached_q(now: datetime.datetime) -> Q:
    return (
        Q(response_breached=True)
        | Q(resolution_breached=True)
        | Q(resolution_due_at__lt=now)
        | Q(responded_at__isnull=True, response_due_at__lt=now)
    )


def with_sla_state(queryset: QuerySet[WorkOrder], now: datetime.datetime) -> QuerySet[WorkOrder]:
    """``queryset`` annotated with ``sla_state`` (``SlaState``), ``sla_rank`` (0 breached … 3 none, for
    sorting by urgency) and ``sla_due_at`` (the next deadline: the response while unanswered, else the
    resolution). Set-based, in the same query; already annotated querysets are returned as they are."""
    if "sla_state" in queryset.query.annotations:
        return queryset
    percent = Coalesce(F("service_level__at_risk_percent"), Value(DEFAULT_AT_RISK_PERCENT), output_field=IntegerField())
    open_with_due = Q(status__in=WORK_ORDER_OPEN_STATES, resolution_due_at__isnull=False)
    state = Case(
        When(~open_with_due, then=Value(SlaState.NONE.value)),
        When(_breached_q(now), then=Value(SlaState.BREACHED.value)),
        When(sla_elapsed_x100__gte=F("sla_window_x_percent"), then=Value(SlaState.AT_RISK.value)),
        default=Value(SlaState.ON_TRACK.value),
        output_field=CharField(),
    )
    return (
        queryset.alias(
            sla_elapsed_x100=ExpressionWrapper(
                (Value(now, output_field=DateTimeField()) - F("created_at")) * Value(100), output_field=DurationField()
            ),
            sla_window_x_percent=ExpressionWrapper(
                (F("resolution_due_at") - F("created_at")) * percent, output_field=DurationField()
            ),
        )
        .annotate(
            sla_state=state,
            sla_due_at=Case(
                When(Q(responded_at__isnull=True, response_due_at__isnull=False), then=F("response_due_at")),
                default=F("resolution_due_at"),
                output_field=DateTimeField(),
            ),
        )
        .annotate(
            sla_rank=Case(
                *(When(sla_state=value.value, then=Value(rank)) for value, rank in SLA_RANK.items()),
                output_field=IntegerField(),
            )
        )
    )


def sla_due_of(work_order: WorkOrder) -> datetime.datetime | None:
    """The next deadline of one order (``sla_due_at`` of ``with_sla_state``)."""
    if work_order.responded_at is None and work_order.response_due_at is not None:
        return work_order.response_due_at
    return work_order.resolution_due_at


def sla_state_of(work_order: WorkOrder, *, now: datetime.datetime) -> str:
    """The SLA state of one order: the rule of ``with_sla_state`` (reads ``service_level`` once)."""
    annotated = getattr(work_order, "sla_state", None)
    if annotated is not None:
        return annotated
    if work_order.status not in WORK_ORDER_OPEN_STATES or work_order.resolution_due_at is None:
        return SlaState.NONE
    if (
        work_order.response_breached
        or work_order.resolution_breached
        or work_order.resolution_due_at < now
        or (work_order.responded_at is None and work_order.response_due_at and work_order.response_due_at < now)
    ):
        return SlaState.BREACHED
    percent = DEFAULT_AT_RISK_PERCENT
    if work_order.service_level_id is not None:
        percent = work_order.service_level.at_risk_percent
    if (now - work_order.created_at) * 100 >= (work_order.resolution_due_at - work_order.created_at) * percent:
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


def time_left(work_order: WorkOrder, *, now: datetime.datetime) -> datetime.timedelta | None:
    """Until the next deadline of an open order (negative once past); None without one."""
    due = getattr(work_order, "sla_due_at", None) or sla_due_of(work_order)
    if due is None or work_order.status not in WORK_ORDER_OPEN_STATES:
        return None
    return due - now


def format_duration(delta: datetime.timedelta) -> str:
    """A duration as people read it: "2 d 4 h", "3 h 15 min", "12 min"."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


def time_left_label(work_order: WorkOrder, *, now: datetime.datetime) -> str:
    """ "3 h 15 min left", "overdue by 2 d 1 h", or "" without a deadline."""
    left = time_left(work_order, now=now)
    if left is None:
        return ""
    if left < datetime.timedelta(0):
        return str(_("overdue by %(duration)s") % {"duration": format_duration(left)})
    return str(_("%(duration)s left") % {"duration": format_duration(left)})


def sla_counts(*, user: User, now: datetime.datetime) -> dict[str, int]:
    """The user's open orders at risk and breached (one aggregate query)."""
    queryset = with_sla_state(WorkOrder.objects.visible_to(user).open(), now)
    return queryset.aggregate(
        at_risk=Count("pk", filter=Q(sla_state=SlaState.AT_RISK)),
        breached=Count("pk", filter=Q(sla_state=SlaState.BREACHED)),
    )


def dispatch_board(*, user: User, now: datetime.datetime) -> QuerySet[WorkOrder]:
    """The service desk's board: open orders still unassigned, or at risk or breached, most urgent first."""
    queryset = (
        WorkOrder.objects.visible_to(user)
        .open()
        .select_related("customer", "site", "asset", "asset__asset_model", "assigned_to", "service_level")
    )
    return (
        with_sla_state(queryset, now)
        .filter(Q(status=WorkOrderStatus.NEW) | Q(sla_state__in=[SlaState.AT_RISK, SlaState.BREACHED]))
        .order_by("sla_rank", F("sla_due_at").asc(nulls_last=True), "priority", "created_at", "pk")
    )


# --- The breach sweep -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaSweepResult:
    response_breaches: int
    resolution_breaches: int
    notified: int
    emails_sent: int


def _digest_line(work_order: WorkOrder) -> dict:
    kinds = []
    if work_order.response_breached:
        kinds.append(str(_("response")))
    if work_order.resolution_breached:
        kinds.append(str(_("resolution")))
    due = work_order.resolution_due_at if work_order.resolution_breached else work_order.response_due_at
    return {
        "number": work_order.number,
        "priority": str(Priority(work_order.priority).label),
        "customer": work_order.customer.name,
        "site": work_order.site.name,
        "breached": ", ".join(kinds),
        "due": formats.date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT") if due else "",
    }


def _digest_message(*, provider: Organisation, recipients: list[str], orders: list[WorkOrder]) -> EmailMessage:
    """One e-mail to a provider's dispatchers listing ``orders``, in the provider's language and time zone."""
    ordered = sorted(orders, key=lambda order: (order.priority, order.resolution_due_at or order.created_at, order.pk))
    with translation.override(provider.language or settings.LANGUAGE_CODE), timezone.override(provider.time_zone):
        context = {
            "count": len(orders),
            "lines": [_digest_line(order) for order in ordered[:DIGEST_MAX_LINES]],
            "more": max(0, len(orders) - DIGEST_MAX_LINES),
            "organisation": provider.name,
        }
        subject = " ".join(render_to_string("maintenance/sla/email_breach_subject.txt", context).split())
        body = render_to_string("maintenance/sla/email_breach.txt", context)
    return EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients)


def _breach_digests(orders: list[WorkOrder]) -> list[EmailMessage]:
    by_provider: dict[int, list[WorkOrder]] = defaultdict(list)
    for order in orders:
        by_provider[order.provider_id].append(order)
    recipients: dict[int, list[str]] = defaultdict(list)
    memberships = (
        Membership.objects.filter(
            organisation_id__in=list(by_provider),
            role__in=(Role.SERVICE_DESK, Role.PROVIDER_ADMIN),
            user__is_active=True,
            organisation__is_active=True,
        )
        .exclude(user__email="")
        .select_related("user")
        .order_by("user__email")
    )
    for membership in memberships:
        recipients[membership.organisation_id].append(membership.user.email)
    providers = Organisation.objects.in_bulk(list(by_provider))
    return [
        _digest_message(provider=providers[provider_id], recipients=recipients[provider_id], orders=listed)
        for provider_id, listed in by_provider.items()
        if recipients[provider_id]
    ]


def sla_sweep(*, now: datetime.datetime | None = None) -> SlaSweepResult:
    """Flag the open orders that passed a due time (once) and e-mail each provider one digest of those not yet
    notified. Rows another worker holds are skipped; a failure to send rolls the marks back. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        candidates = (
            WorkOrder.objects.open()
            .filter(
                Q(responded_at__isnull=True, response_due_at__lt=now, response_breached=False)
                | Q(resolution_due_at__lt=now, resolution_breached=False)
            )
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list("pk", flat=True)[:SWEEP_LIMIT]
        )
        ids = list(candidates)
        response = WorkOrder.objects.filter(
            pk__in=ids, responded_at__isnull=True, response_due_at__lt=now, response_breached=False
        ).update(response_breached=True)
        resolution = WorkOrder.objects.filter(pk__in=ids, resolution_due_at__lt=now, resolution_breached=False).update(
            resolution_breached=True
        )
    with transaction.atomic():
        pending = list(
            WorkOrder.objects.open()
            .filter(Q(response_breached=True) | Q(resolution_breached=True), breach_notified_at__isnull=True)
            .select_related("customer", "site")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")[:SWEEP_LIMIT]
        )
        if pending:
            WorkOrder.objects.filter(pk__in=[order.pk for order in pending]).update(breach_notified_at=now)
        messages = _breach_digests(pending) if pending else []
        if messages:
            mailers.default.send_messages(messages)
    return SlaSweepResult(
        response_breaches=response, resolution_breaches=resolution, notified=len(pending), emails_sent=len(messages)
    )


@shared_task(ignore_result=True, soft_time_limit=240, time_limit=270)
def sla_sweep_task() -> None:
    """Flag SLA breaches and e-mail the digests (beat, every five minutes). Idempotent."""
    sla_sweep()


# --- Reads: service levels and calendars ------------------------------------------------------------------------


def service_level_list(*, user: User) -> QuerySet[ServiceLevel]:
    """Service levels the user may see: their customers' and their provider's default (``ProviderTenantQuerySet``)."""
    return (
        ServiceLevel.objects.visible_to(user)
        .select_related("customer", "calendar")
        .order_by(F("customer__name").asc(nulls_first=True), "name", "pk")
    )


def business_calendar_list(*, user: User) -> QuerySet[BusinessCalendar]:
    """Business calendars the user may see: their customers' and their provider's own, with hours and closures."""
    return (
        BusinessCalendar.objects.visible_to(user)
        .select_related("customer")
        .prefetch_related("hours", "closures")
        .order_by("name", "pk")
    )


def site_calendar_list(*, user: User) -> QuerySet[SiteCalendar]:
    sites = Site.objects.visible_to(user).values("pk")
    return (
        SiteCalendar.objects.filter(site_id__in=sites)
        .select_related("site", "site__customer", "calendar")
        .order_by("site__customer__name", "site__name")
    )


# --- Writes: service levels and calendars -----------------------------------------------------------------------

SERVICE_LEVEL_FIELDS = (
    "name",
    "customer",
    *(f"response_hours_{p}" for p in Priority.values),
    *(f"resolution_hours_{p}" for p in Priority.values),
    "uptime_target_percent",
    "business_hours_only",
    "calendar",
    "at_risk_percent",
)


def _manager(by: User):
    access = access_for(by)
    if access is None or not access.is_provider_staff or not access.can(Capability.MANAGE_CUSTOMERS):
        raise ValidationError(NOT_ALLOWED_TO_MANAGE)
    return access


def _check_customer(customer: Organisation | None, provider_id: int) -> None:
    if customer is not None and customer.provider_id != provider_id:
        raise ValidationError({"customer": CUSTOMER_NOT_OURS})


def _service_level_validate(level: ServiceLevel) -> None:
    errors = {}
    for priority in Priority.values:
        if getattr(level, f"resolution_hours_{priority}") < getattr(level, f"response_hours_{priority}"):
            errors[f"resolution_hours_{priority}"] = RESOLUTION_BEFORE_RESPONSE
    if level.calendar is not None and (
        level.calendar.provider_id != level.provider_id
        or (level.calendar.customer_id is not None and level.calendar.customer_id != level.customer_id)
    ):
        errors["calendar"] = CALENDAR_NOT_USABLE
    others = ServiceLevel.objects.exclude(pk=level.pk)
    if level.customer_id is None and others.filter(provider_id=level.provider_id, customer__isnull=True).exists():
        errors["customer"] = DEFAULT_EXISTS
    if level.customer_id is not None and others.filter(customer_id=level.customer_id).exists():
        errors["customer"] = CUSTOMER_HAS_LEVEL
    if errors:
        raise ValidationError(errors)
    level.full_clean()


@transaction.atomic
def service_level_create(*, by: User, **fields) -> ServiceLevel:
    """A new service level of the caller's provider: its default (no customer) or one customer's."""
    access = _manager(by)
    _check_customer(fields.get("customer"), access.provider_id)
    level = ServiceLevel(provider_id=access.provider_id, **fields)
    _service_level_validate(level)
    level.save()
    return level


@transaction.atomic
def service_level_update(*, service_level: ServiceLevel, by: User, **fields) -> ServiceLevel:
    """Change a service level's terms; orders already open keep the due times they were given."""
    access = _manager(by)
    if service_level.provider_id != access.provider_id:
        raise ValidationError(NOT_ALLOWED_TO_MANAGE)
    unknown = set(fields) - set(SERVICE_LEVEL_FIELDS)
    if unknown:
        raise TypeError(f"service_level_update() got unexpected fields: {sorted(unknown)}")
    if "customer" in fields:
        _check_customer(fields["customer"], access.provider_id)
    for name, value in fields.items():
        setattr(service_level, name, value)
    _service_level_validate(service_level)
    service_level.save()
    return service_level


def _hours_validate(hours: list[dict]) -> None:
    by_day: dict[int, list[tuple]] = defaultdict(list)
    for row in hours:
        if row["opens"] >= row["closes"]:
            raise ValidationError({"hours": HOURS_REVERSED})
        by_day[row["weekday"]].append((row["opens"], row["closes"]))
    for intervals in by_day.values():
        intervals.sort()
        for (_opens, closes), (next_opens, _closes) in zip(intervals, intervals[1:], strict=False):
            if next_opens < closes:
                raise ValidationError({"hours": HOURS_OVERLAP})


@transaction.atomic
def business_calendar_save(
    *,
    by: User,
    calendar: BusinessCalendar | None = None,
    name: str,
    customer: Organisation | None = None,
    holiday_country: str = "",
    hours: list[dict] | None = None,
    closures: list[dict] | None = None,
) -> BusinessCalendar:
    """Create or change a calendar with its opening hours and closures, all written at once. ``hours`` (dicts of
    ``weekday``, ``opens``, ``closes``) and ``closures`` (``date``, ``name``) replace what it had; None keeps it."""
    access = _manager(by)
    if calendar is not None and calendar.provider_id != access.provider_id:
        raise ValidationError(NOT_ALLOWED_TO_MANAGE)
    _check_customer(customer, access.provider_id)
    holiday_country = (holiday_country or "").strip().upper()
    if holiday_country and not holiday_country_known(holiday_country):
        raise ValidationError({"holiday_country": UNKNOWN_COUNTRY})
    if calendar is not None and customer is not None and calendar.customer_id != customer.pk:
        used_elsewhere = ServiceLevel.objects.filter(calendar=calendar).exclude(customer=customer).exists()
        used_elsewhere = (
            used_elsewhere or SiteCalendar.objects.filter(calendar=calendar).exclude(site__customer=customer).exists()
        )
        if used_elsewhere:
            raise ValidationError({"customer": CALENDAR_CUSTOMER_FIXED})
    if hours is not None:
        _hours_validate(hours)
    if closures is not None and len({row["date"] for row in closures}) != len(closures):
        raise ValidationError({"closures": CLOSURE_TWICE})
    calendar = calendar or BusinessCalendar(provider_id=access.provider_id)
    calendar.name = name
    calendar.customer = customer
    calendar.holiday_country = holiday_country
    calendar.full_clean()
    calendar.save()
    if hours is not None:
        calendar.hours.all().delete()
        BusinessHours.objects.bulk_create(
            BusinessHours(calendar=calendar, weekday=row["weekday"], opens=row["opens"], closes=row["closes"])
            for row in hours
        )
    if closures is not None:
        calendar.closures.all().delete()
        BusinessClosure.objects.bulk_create(
            BusinessClosure(calendar=calendar, date=row["date"], name=row.get("name", "")) for row in closures
        )
    return calendar


@transaction.atomic
def site_calendar_set(*, site: Site, calendar: BusinessCalendar | None, by: User) -> SiteCalendar | None:
    """Give a site its own business calendar (None: the site follows its service level's calendar again).
    Orders already open keep their due times."""
    access = _manager(by)
    if site.customer.provider_id != access.provider_id:
        raise ValidationError({"site": SITE_NOT_VISIBLE})
    if calendar is None:
        SiteCalendar.objects.filter(site=site).delete()
        return None
    if calendar.provider_id != access.provider_id or calendar.customer_id not in (None, site.customer_id):
        raise ValidationError({"calendar": CALENDAR_NOT_USABLE})
    site_calendar, _created = SiteCalendar.objects.update_or_create(site=site, defaults={"calendar": calendar})
    return site_calendar
