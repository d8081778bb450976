"""Service levels in business hours: the arithmetic, due times on creation, the SLA state (annotation and
per-object rule agree), breaches at completion and the breach sweep with its e-mail digests."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory, SiteFactory
from maintenance import services, sla
from maintenance.choices import Priority, SlaState, WorkOrderKind, WorkOrderSource, WorkOrderStatus
from maintenance.models import BusinessCalendar, BusinessClosure, BusinessHours, ServiceLevel, SiteCalendar, WorkOrder
from maintenance.sla import BusinessSchedule, add_business_hours, business_hours_between
from maintenance.tests.factories import ServiceLevelFactory, WorkOrderFactory

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
T = datetime.time

# Mon–Fri 9:00–12:00 and 13:00–18:00 (eight hours a day), Japanese public holidays closed.
JP_OFFICE = BusinessSchedule(
    hours={day: ((T(9), T(12)), (T(13), T(18))) for day in range(5)},
    holiday_country="JP",
)
NINE_TO_FIVE = BusinessSchedule(hours={day: ((T(9), T(17)),) for day in range(5)})


@pytest.fixture
def clock(monkeypatch):
    """Stops ``timezone.now`` (and so ``created_at``) at the instant given to ``move_to``."""

    class Clock:
        def move_to(self, instant: datetime.datetime) -> None:
            monkeypatch.setattr(timezone, "now", lambda: instant)

    return Clock()


def tokyo(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=TOKYO)


def berlin(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=BERLIN)


# --- Arithmetic -------------------------------------------------------------------------------------------------


def test_hours_within_one_day_skip_the_lunch_break():
    # Monday 2026-11-16 10:00 + 4 h: 10–12 (2 h), 13–15 (2 h).
    assert add_business_hours(tokyo(2026, 11, 16, 10), 4, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 15)


def test_due_time_on_a_closing_stays_at_the_closing():
    assert add_business_hours(tokyo(2026, 11, 16, 9), 8, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 18)


def test_weekend_is_skipped():
    # Friday 2026-11-13 17:00 + 2 h: 17–18 Friday, 9–10 Monday.
    assert add_business_hours(tokyo(2026, 11, 13, 17), 2, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 10)


def test_japanese_public_holiday_is_skipped():
    # Monday 2026-11-23 is Labour Thanksgiving Day: Friday 17:00 + 2 h reaches Tuesday 10:00.
    assert add_business_hours(tokyo(2026, 11, 20, 17), 2, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 24, 10)


def test_closures_are_skipped():
    closed = BusinessSchedule(hours=JP_OFFICE.hours, closed=frozenset({datetime.date(2026, 11, 16)}))
    assert add_business_hours(tokyo(2026, 11, 13, 17), 2, calendar=closed, tz=TOKYO) == tokyo(2026, 11, 17, 10)


def test_start_outside_hours_counts_from_the_next_opening():
    assert add_business_hours(tokyo(2026, 11, 16, 7, 30), 1, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 10)
    assert add_business_hours(tokyo(2026, 11, 16, 12, 30), 1, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 14)
    assert add_business_hours(tokyo(2026, 11, 14, 12), 1, calendar=JP_OFFICE, tz=TOKYO) == tokyo(2026, 11, 16, 10)


def test_zero_hours_is_the_start_itself():
    start = tokyo(2026, 11, 14, 12)
    assert add_business_hours(start, 0, calendar=JP_OFFICE, tz=TOKYO) == start


def test_fractional_hours():
    from decimal import Decimal

    assert add_business_hours(tokyo(2026, 11, 16, 9), Decimal("1.5"), calendar=JP_OFFICE, tz=TOKYO) == tokyo(
        2026, 11, 16, 10, 30
    )


def test_no_calendar_counts_calendar_hours():
    start = tokyo(2026, 11, 14, 12)
    assert add_business_hours(start, 30, calendar=None, tz=TOKYO) == start + datetime.timedelta(hours=30)


def test_same_instant_in_tokyo_and_berlin_hours_differs():
    start = datetime.datetime(2026, 11, 16, 6, tzinfo=UTC)  # 15:00 in Tokyo, 07:00 in Berlin
    in_tokyo = add_business_hours(start, 2, calendar=NINE_TO_FIVE, tz=TOKYO)
    in_berlin = add_business_hours(start, 2, calendar=NINE_TO_FIVE, tz=BERLIN)
    assert in_tokyo == tokyo(2026, 11, 16, 17)
    assert in_berlin == berlin(2026, 11, 16, 11)


def test_daylight_saving_change_keeps_local_opening_hours():
    # Berlin moves to summer time on Sunday 2026-03-29: Friday 16:00 CET + 2 h is Monday 10:00 CEST (08:00 UTC).
    due = add_business_hours(berlin(2026, 3, 27, 16), 2, calendar=NINE_TO_FIVE, tz=BERLIN)
    assert due == datetime.datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 10


def test_around_the_clock_across_daylight_saving_counts_real_hours():
    always = BusinessSchedule(hours={day: ((T(0), T(23, 59, 59, 999999)),) for day in range(7)})
    start = berlin(2026, 3, 28, 12)  # the night that follows is one hour short
    due = add_business_hours(start, 24, calendar=always, tz=BERLIN)
    assert due.astimezone(BERLIN).hour == 13  # 24 real hours later is 13:00 local, give or take the midnight tick
    assert business_hours_between(berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0), calendar=NINE_TO_FIVE, tz=BERLIN) == (
        datetime.timedelta(0)
    )


def test_long_span_is_fast_and_right():
    # 168 business hours = 21 business days of 8 h; from Monday 2026-06-01 9:00 (no JP holidays in June).
    due = add_business_hours(tokyo(2026, 6, 1, 9), 168, calendar=JP_OFFICE, tz=TOKYO)
    assert due == tokyo(2026, 6, 29, 18)


def test_business_hours_between_is_the_inverse():
    start = tokyo(2026, 11, 20, 10, 15)
    for hours in (1, 5, 8, 13, 40):
        due = add_business_hours(start, hours, calendar=JP_OFFICE, tz=TOKYO)
        assert business_hours_between(start, due, calendar=JP_OFFICE, tz=TOKYO) == datetime.timedelta(hours=hours)


def test_business_hours_between_empty_and_reversed():
    start = tokyo(2026, 11, 14, 10)  # Saturday
    assert business_hours_between(start, tokyo(2026, 11, 15, 20), calendar=JP_OFFICE, tz=TOKYO) == datetime.timedelta(0)
    assert business_hours_between(start, start - datetime.timedelta(hours=1), calendar=None, tz=TOKYO) == (
        datetime.timedelta(0)
    )


def test_calendar_that_never_opens_counts_calendar_hours():
    start = tokyo(2026, 11, 16, 10)
    assert add_business_hours(start, 3, calendar=BusinessSchedule(), tz=TOKYO) == start + datetime.timedelta(hours=3)


# --- Calendars in the database and due times on creation ---------------------------------------------------------


def _jp_calendar(provider, **fields) -> BusinessCalendar:
    calendar = BusinessCalendar.objects.create(provider=provider, name="JP office", holiday_country="JP", **fields)
    for weekday in range(5):
        BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=T(9), closes=T(12))
        BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=T(13), closes=T(18))
    return calendar


@pytest.fixture
def jp_level(db, provider, customer):
    return ServiceLevelFactory(
        provider=provider, customer=customer, business_hours_only=True, calendar=_jp_calendar(provider)
    )


def _create(customer, site, by, priority=Priority.P3):
    return services.work_order_create(
        customer=customer,
        site=site,
        kind=WorkOrderKind.CORRECTIVE,
        priority=priority,
        source=WorkOrderSource.MANUAL,
        description="Paper jam",
        by=by,
    )


def test_create_counts_business_hours_of_the_service_level_calendar(jp_level, customer, site, provider_admin, clock):
    clock.move_to(tokyo(2026, 11, 20, 17))  # Friday before the holiday Monday
    order = _create(customer, site, provider_admin, Priority.P3)  # 24 h response, 72 h resolution
    assert order.response_due_at == tokyo(2026, 11, 26, 17)  # 1 + 8 (Tue) + 8 (Wed) + 7 (Thu)
    assert order.resolution_due_at == add_business_hours(tokyo(2026, 11, 20, 17), 72, calendar=JP_OFFICE, tz=TOKYO)


def test_site_calendar_wins_over_the_service_level_calendar(jp_level, customer, provider, provider_admin, clock):
    berlin_site = SiteFactory(customer=customer, time_zone="Europe/Berlin", country="DE")
    calendar = BusinessCalendar.objects.create(provider=provider, name="Berlin")
    for weekday in range(5):
        BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=T(9), closes=T(17))
    BusinessClosure.objects.create(calendar=calendar, date=datetime.date(2026, 11, 23))
    SiteCalendar.objects.create(site=berlin_site, calendar=calendar)
    clock.move_to(berlin(2026, 11, 20, 16))
    order = _create(customer, berlin_site, provider_admin, Priority.P1)  # 4 h response
    assert order.response_due_at == berlin(2026, 11, 24, 12)  # 1 h Friday, Monday closed, 3 h Tuesday


def test_calendar_hours_without_business_hours_only(customer, site, provider, provider_admin, clock):
    ServiceLevelFactory(provider=provider, customer=customer, calendar=_jp_calendar(provider))
    clock.move_to(tokyo(2026, 11, 20, 17))
    order = _create(customer, site, provider_admin, Priority.P1)
    assert order.response_due_at == tokyo(2026, 11, 20, 21)


def test_no_service_level_no_due_times(customer, site, provider_admin):
    order = _create(customer, site, provider_admin)
    assert (order.response_due_at, order.resolution_due_at) == (None, None)
    assert sla.sla_state_of(order, now=timezone.now()) == SlaState.NONE


# --- SLA state ----------------------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 11, 16, 3, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)


def _order(asset, level, *, created, response_due, resolution_due, **fields):
    order = WorkOrderFactory(
        asset=asset,
        service_level=level,
        response_due_at=response_due,
        resolution_due_at=resolution_due,
        **fields,
    )
    WorkOrder.objects.filter(pk=order.pk).update(created_at=created)
    return WorkOrder.objects.get(pk=order.pk)


@pytest.fixture
def state_cases(provider, customer, asset):
    level = ServiceLevelFactory(provider=provider, customer=customer, at_risk_percent=75)
    return {
        "on_track": _order(asset, level, created=NOW - HOUR, response_due=NOW + HOUR, resolution_due=NOW + 9 * HOUR),
        "at_risk": _order(asset, level, created=NOW - 8 * HOUR, response_due=NOW + HOUR, resolution_due=NOW + 2 * HOUR),
        "at_risk_exactly": _order(
            asset, level, created=NOW - 3 * HOUR, response_due=NOW + HOUR, resolution_due=NOW + HOUR
        ),
        "response_late": _order(
            asset, level, created=NOW - 2 * HOUR, response_due=NOW - HOUR, resolution_due=NOW + 9 * HOUR
        ),
        "responded_in_time": _order(
            asset,
            level,
            created=NOW - 2 * HOUR,
            response_due=NOW - HOUR,
            resolution_due=NOW + 20 * HOUR,
            responded_at=NOW - 90 * datetime.timedelta(minutes=1),
            status=WorkOrderStatus.IN_PROGRESS,
        ),
        "resolution_late": _order(
            asset,
            level,
            created=NOW - 9 * HOUR,
            response_due=NOW - 8 * HOUR,
            resolution_due=NOW - HOUR,
            responded_at=NOW - 8 * HOUR,
        ),
        "flagged": _order(
            asset,
            level,
            created=NOW - HOUR,
            response_due=NOW + HOUR,
            resolution_due=NOW + 9 * HOUR,
            response_breached=True,
        ),
        "completed": _order(
            asset,
            level,
            created=NOW - 9 * HOUR,
            response_due=NOW - 8 * HOUR,
            resolution_due=NOW - HOUR,
            status=WorkOrderStatus.COMPLETED,
        ),
        "no_due": _order(asset, None, created=NOW - HOUR, response_due=None, resolution_due=None),
    }


EXPECTED = {
    "on_track": SlaState.ON_TRACK,
    "at_risk": SlaState.AT_RISK,
    "at_risk_exactly": SlaState.AT_RISK,
    "response_late": SlaState.BREACHED,
    "responded_in_time": SlaState.ON_TRACK,
    "resolution_late": SlaState.BREACHED,
    "flagged": SlaState.BREACHED,
    "completed": SlaState.NONE,
    "no_due": SlaState.NONE,
}


def test_sla_state_annotation_and_per_object_rule_agree(state_cases):
    annotated = {order.pk: order.sla_state for order in sla.with_sla_state(WorkOrder.objects.all(), NOW)}
    for name, order in state_cases.items():
        fresh = WorkOrder.objects.get(pk=order.pk)
        assert sla.sla_state_of(fresh, now=NOW) == EXPECTED[name], name
        assert annotated[order.pk] == EXPECTED[name], name


def test_sla_state_filters_and_ranks(state_cases):
    queryset = sla.with_sla_state(WorkOrder.objects.all(), NOW)
    breached = set(queryset.filter(sla_state=SlaState.BREACHED).values_list("pk", flat=True))
    assert breached == {state_cases[name].pk for name in ("response_late", "resolution_late", "flagged")}
    ranks = list(queryset.order_by("sla_rank", "pk").values_list("sla_state", flat=True))
    assert ranks == sorted(ranks, key=lambda state: sla.SLA_RANK[state])


def test_time_left_is_the_next_deadline(state_cases):
    assert sla.time_left(state_cases["on_track"], now=NOW) == HOUR  # the response, still owed
    assert sla.time_left(state_cases["responded_in_time"], now=NOW) == 20 * HOUR
    assert sla.time_left(state_cases["resolution_late"], now=NOW) == -HOUR
    assert sla.time_left(state_cases["completed"], now=NOW) is None
    assert "overdue" in sla.time_left_label(state_cases["resolution_late"], now=NOW)


# --- Breaches at completion ------------------------------------------------------------------------------------


def test_completing_late_flags_the_breaches(provider, customer, site, provider_admin, technician, clock):
    ServiceLevelFactory(provider=provider, customer=customer)
    clock.move_to(datetime.datetime(2026, 11, 16, 0, tzinfo=UTC))
    order = _create(customer, site, provider_admin, Priority.P1)  # 4 h response, 8 h resolution
    services.work_order_assign(work_order=order, technician=technician, by=provider_admin)
    clock.move_to(datetime.datetime(2026, 11, 16, 2, tzinfo=UTC))
    services.work_order_transition(work_order=order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    clock.move_to(datetime.datetime(2026, 11, 16, 9, tzinfo=UTC))
    services.work_order_complete(work_order=order, by=technician)
    order.refresh_from_db()
    assert (order.response_breached, order.resolution_breached) == (False, True)


# --- The sweep ----------------------------------------------------------------------------------------------------


def test_sweep_flags_once_and_emails_one_digest_per_provider(provider, customer, asset, service_desk, provider_admin):
    member(customer, Role.CUSTOMER_ADMIN, email="admin@acme.example")  # customers are not told
    level = ServiceLevelFactory(provider=provider, customer=customer)
    late_response = _order(asset, level, created=NOW - 2 * HOUR, response_due=NOW - HOUR, resolution_due=NOW + HOUR)
    late_resolution = _order(
        asset, level, created=NOW - 9 * HOUR, response_due=NOW - 8 * HOUR, resolution_due=NOW - HOUR, responded_at=NOW
    )
    on_time = _order(asset, level, created=NOW - HOUR, response_due=NOW + HOUR, resolution_due=NOW + 9 * HOUR)
    provider2 = ProviderFactory(code="p2")
    desk2 = member(provider2, Role.SERVICE_DESK, email="desk@p2.example")
    customer2 = CustomerFactory(provider=provider2)
    level2 = ServiceLevelFactory(provider=provider2, customer=customer2)
    asset2 = AssetFactory(customer=customer2, site=SiteFactory(customer=customer2))
    late2 = _order(asset2, level2, created=NOW - 9 * HOUR, response_due=NOW - 8 * HOUR, resolution_due=NOW - HOUR)

    result = sla.sla_sweep(now=NOW)

    assert (result.response_breaches, result.resolution_breaches) == (2, 2)
    assert (result.notified, result.emails_sent) == (3, 2)
    flags = {
        order.pk: (order.response_breached, order.resolution_breached, order.breach_notified_at)
        for order in WorkOrder.objects.all()
    }
    assert flags[late_response.pk] == (True, False, NOW)
    assert flags[late_resolution.pk] == (False, True, NOW)
    assert flags[late2.pk] == (True, True, NOW)
    assert flags[on_time.pk] == (False, False, None)
    by_recipients = {tuple(sorted(message.to)): message for message in mail.outbox}
    assert set(by_recipients) == {(provider_admin.email, service_desk.email), (desk2.email,)}
    ours = by_recipients[(provider_admin.email, service_desk.email)].body
    assert late_response.number in ours and late_resolution.number in ours and late2.number not in ours

    again = sla.sla_sweep(now=NOW + HOUR)
    assert again == sla.SlaSweepResult(response_breaches=0, resolution_breaches=0, notified=0, emails_sent=0)
    assert len(mail.outbox) == 2


def test_sweep_command_and_task_run(db, capsys):
    call_command("sla_sweep")
    sla.sla_sweep_task.delay()
    assert "emails_sent=0" in capsys.readouterr().out


# --- Service-level and calendar services ------------------------------------------------------------------------


def test_service_level_create_refuses_resolution_before_response(provider_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        sla.service_level_create(by=provider_admin, name="Fast", response_hours_p2=10, resolution_hours_p2=5)
    assert error.value.message_dict == {"resolution_hours_p2": [str(sla.RESOLUTION_BEFORE_RESPONSE)]}


def test_service_level_create_refuses_a_second_default(provider, provider_admin):
    from django.core.exceptions import ValidationError

    ServiceLevelFactory(provider=provider)
    with pytest.raises(ValidationError) as error:
        sla.service_level_create(by=provider_admin, name="Another default")
    assert error.value.message_dict == {"customer": [str(sla.DEFAULT_EXISTS)]}


def test_service_level_create_needs_the_capability(service_desk):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        sla.service_level_create(by=service_desk, name="Desk's own")


def test_business_calendar_save_writes_everything_or_nothing(provider_admin):
    from django.core.exceptions import ValidationError

    calendar = sla.business_calendar_save(
        by=provider_admin,
        name="JP",
        holiday_country="jp",
        hours=[{"weekday": 0, "opens": T(9), "closes": T(12)}, {"weekday": 0, "opens": T(13), "closes": T(18)}],
        closures=[{"date": datetime.date(2026, 12, 30), "name": "Year end"}],
    )
    assert calendar.holiday_country == "JP"
    assert calendar.hours.count() == 2 and calendar.closures.count() == 1
    with pytest.raises(ValidationError) as error:
        sla.business_calendar_save(
            by=provider_admin,
            calendar=calendar,
            name="JP renamed",
            hours=[{"weekday": 0, "opens": T(9), "closes": T(14)}, {"weekday": 0, "opens": T(13), "closes": T(18)}],
        )
    assert error.value.message_dict == {"hours": [str(sla.HOURS_OVERLAP)]}
    calendar.refresh_from_db()
    assert calendar.name == "JP" and calendar.hours.count() == 2
    with pytest.raises(ValidationError) as error:
        sla.business_calendar_save(by=provider_admin, calendar=calendar, name="JP", holiday_country="XX")
    assert "holiday_country" in error.value.message_dict


def test_service_level_list_shows_the_default_to_customers_but_not_others(
    provider, customer, other_customer, customer_admin
):
    default = ServiceLevelFactory(provider=provider)
    own = ServiceLevelFactory(provider=provider, customer=customer)
    others = ServiceLevelFactory(provider=provider, customer=other_customer)
    ServiceLevelFactory(provider=ProviderFactory(code="p2"))
    visible = set(sla.service_level_list(user=customer_admin))
    assert visible == {default, own}
    assert others not in visible
    assert ServiceLevel.objects.count() == 4


# --- Demo ---------------------------------------------------------------------------------------------------------


def test_seed_sla_is_idempotent(db):
    from accounts.demo import PROVIDER_CODE
    from fleet.demo import DemoContext
    from maintenance.demo.sla import seed_sla

    provider = ProviderFactory(code=PROVIDER_CODE)
    customer = CustomerFactory(provider=provider, code="a-first")
    CustomerFactory(provider=provider, code="b-second")
    context = DemoContext(today=datetime.date(2026, 11, 1), log=lambda line: None)
    seed_sla(context)
    seed_sla(context)
    calendar = BusinessCalendar.objects.get()
    assert (calendar.hours.count(), calendar.closures.count(), calendar.holiday_country) == (10, 10, "JP")
    level = ServiceLevel.objects.get()
    assert (level.customer, level.business_hours_only, level.calendar) == (customer, True, calendar)
