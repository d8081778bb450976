"""The demo's calendar: Japanese public holidays, company breaks, working patterns of sites, seasons."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import holidays as public_holidays

from assets.models import Asset

LOCAL_TZ = ZoneInfo("Asia/Tokyo")
HISTORY_DAYS = 365


class Profile(StrEnum):
    """When a site works: office days, a logistics centre (two shifts, Monday to Saturday) or a plant."""

    OFFICE = "office"
    LOGISTICS = "logistics"
    PLANT = "plant"


# Material handling follows its site; print devices follow office days wherever they stand.
SITE_PROFILES = {"STM-DC": Profile.LOGISTICS, "KOB-WH": Profile.LOGISTICS, "UTS-PL": Profile.PLANT}
SEASON = {
    Profile.OFFICE: (0.93, 0.98, 1.15, 1.05, 0.95, 1.0, 1.0, 0.88, 1.05, 1.0, 1.0, 1.04),
    Profile.LOGISTICS: (0.9, 0.88, 1.08, 1.0, 0.95, 0.95, 1.02, 0.97, 1.0, 1.05, 1.12, 1.2),
    Profile.PLANT: (0.95, 1.0, 1.08, 1.0, 0.97, 1.02, 1.0, 0.95, 1.02, 1.0, 1.0, 1.0),
}
# (first, last) hour of the working day: events happen then; material handling reports after the last.
WORKING_HOURS = {Profile.OFFICE: (8.5, 19.0), Profile.LOGISTICS: (6.0, 23.0), Profile.PLANT: (8.0, 17.0)}


def japanese_holidays(year: int) -> set[date]:
    """Japan's public holidays of ``year``, substitute and citizens' holidays included (the ``holidays``
    package, which the business calendars of maintenance use too)."""
    return set(public_holidays.country_holidays("JP", years=year))


def _company_break(day: date) -> str:
    """The breaks most Japanese companies take: New Year (29 Dec-3 Jan), Golden Week, Obon (13-16 Aug)."""
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return "new_year"
    if (day.month == 4 and day.day >= 29) or (day.month == 5 and day.day <= 6):
        return "golden_week"
    if day.month == 8 and 13 <= day.day <= 16:
        return "obon"
    return ""


def day_factor(profile: Profile, day: date, holidays: set[date]) -> float:
    """How busy ``day`` is for a site of ``profile``, relative to an ordinary weekday (0: closed)."""
    weekday = day.weekday()
    rest = weekday == 6 or day in holidays
    pause = _company_break(day)
    if profile is Profile.OFFICE:
        if pause == "new_year":
            return 0.02
        if rest:
            return 0.03
        if weekday == 5:
            return 0.07
        if pause:
            return 0.35 if pause == "golden_week" else 0.3
        return (1.08, 1.0, 1.0, 1.0, 0.93)[weekday]
    if profile is Profile.LOGISTICS:
        if (day.month == 12 and day.day == 31) or (day.month == 1 and day.day <= 3) or weekday == 6:
            return 0.0
        if day in holidays:
            return 0.5
        if pause == "golden_week":
            return 0.6
        return 0.7 if weekday == 5 else 1.0
    if rest or weekday == 5 or pause:
        return 0.0
    return 1.0


@dataclass
class Calendar:
    """The simulated days (local dates, oldest first) with each profile's factor and seasonal weight."""

    days: list[date]
    now: datetime
    factors: dict[Profile, list[float]]
    annual: dict[Profile, float]  # the sum of factor × season over the year: turns monthly volumes into daily
    month_end_workdays: set[date]

    @classmethod
    def ending(cls, now: datetime) -> "Calendar":
        end = now.astimezone(LOCAL_TZ).date()
        days = [end - timedelta(days=offset) for offset in range(HISTORY_DAYS, -1, -1)]
        holidays: set[date] = set()
        for year in range(days[0].year, end.year + 1):
            holidays |= japanese_holidays(year)
        factors = {
            profile: [day_factor(profile, day, holidays) * SEASON[profile][day.month - 1] for day in days]
            for profile in Profile
        }
        annual = {profile: sum(values[1:]) for profile, values in factors.items()}
        last_workday: dict[tuple[int, int], date] = {}
        for day, factor in zip(days, factors[Profile.PLANT], strict=True):
            if factor > 0:
                last_workday[(day.year, day.month)] = day
        # The current month is not over: its last working day so far is no month end.
        month_ends = {day for month, day in last_workday.items() if month != (end.year, end.month)}
        return cls(days=days, now=now, factors=factors, annual=annual, month_end_workdays=month_ends)


def local_moment(day: date, hours: float) -> datetime:
    """The local moment ``hours`` after midnight of ``day`` (to the second)."""
    seconds = int(hours * 3600)
    return datetime.combine(day, time(seconds // 3600, seconds % 3600 // 60, seconds % 60), tzinfo=LOCAL_TZ)


def site_profile(asset: Asset) -> Profile:
    """The working pattern of a material-handling asset's site."""
    return SITE_PROFILES.get(asset.site.code, Profile.LOGISTICS)
