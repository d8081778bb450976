"""Demo service levels in business hours: a Japanese office calendar (weekdays 9:00–12:00 and 13:00–18:00, public
holidays, the year-end closures) counted by one customer's service level.

Runs before the maintenance step, so that the work orders it opens for that customer get business-hours due
times. Idempotent: the calendar, its hours and closures and the service level are keyed by name and customer.
"""

import datetime

from accounts.demo import PROVIDER_CODE
from accounts.models import Organisation
from fleet.demo import DemoContext
from maintenance.models import BusinessCalendar, BusinessClosure, BusinessHours, ServiceLevel

CALENDAR_NAME = "日本 営業時間 (平日 9:00–18:00)"
SERVICE_LEVEL_NAME = "Business hours (JP)"
OPENING_HOURS = ((datetime.time(9), datetime.time(12)), (datetime.time(13), datetime.time(18)))
YEAR_END = ((12, 29), (12, 30), (12, 31), (1, 2), (1, 3))  # 1 January is a public holiday already


def seed_sla(context: DemoContext) -> None:
    provider = Organisation.objects.get(code=PROVIDER_CODE)
    calendar, _created = BusinessCalendar.objects.get_or_create(
        provider=provider, customer=None, name=CALENDAR_NAME, defaults={"holiday_country": "JP"}
    )
    for weekday in range(5):
        for opens, closes in OPENING_HOURS:
            BusinessHours.objects.get_or_create(calendar=calendar, weekday=weekday, opens=opens, closes=closes)
    for year in (context.today.year, context.today.year + 1):
        for month, day in YEAR_END:
            BusinessClosure.objects.get_or_create(
                calendar=calendar, date=datetime.date(year, month, day), defaults={"name": "年末年始休業"}
            )
    customer = Organisation.objects.customers().filter(provider=provider).order_by("code").first()
    if customer is None:
        return
    _level, created = ServiceLevel.objects.get_or_create(
        customer=customer,
        defaults={
            "provider": provider,
            "name": SERVICE_LEVEL_NAME,
            "business_hours_only": True,
            "calendar": calendar,
            "response_hours_p1": 2,
            "resolution_hours_p1": 8,
            "response_hours_p2": 4,
            "resolution_hours_p2": 16,
            "response_hours_p3": 8,
            "resolution_hours_p3": 24,
            "response_hours_p4": 16,
            "resolution_hours_p4": 80,
        },
    )
    state = "created" if created else "kept"
    context.log(f"maintenance_sla: business calendar and service level of {customer.name} {state}")
