"""Net Promoter Score: customers' answers to "How likely are you to recommend us?" and the score per month.

A customer admin (``ANSWER_NPS``) answers in the portal or the API, at most once every ``ANSWER_INTERVAL_DAYS``.
Answers of 9 and 10 are promoters, 7 and 8 passives, 0 to 6 detractors; the NPS of a set of answers is the share of
promoters less the share of detractors, in points from -100 to 100, rounded to one decimal (half up).
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.roles import Capability
from fleet.tenancy import access_for
from maintenance.plans import add_months
from reports.ledger import months_from
from reports.models import NpsResponse

ANSWER_INTERVAL_DAYS = 90
PROMOTER_FROM = 9
DETRACTOR_UNTIL = 6
NOT_A_RESPONDENT = _("Only a customer's administrators answer the survey.")
SCORE_RANGE = _("Choose a score from 0 to 10.")
ANSWERED_RECENTLY = _("You answered on %(date)s; the survey opens again on %(next)s.")


def nps_score(*, promoters: int, detractors: int, answers: int) -> Decimal | None:
    """NPS in points, or None without answers."""
    if not answers:
        return None
    return (Decimal(100) * (promoters - detractors) / answers).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def next_answer_date(user: User, *, now: datetime.datetime | None = None) -> datetime.date | None:
    """When the user may answer again (None: now)."""
    now = now or timezone.now()
    last = NpsResponse.objects.filter(respondent=user).order_by("-answered_at").values_list("answered_at", flat=True)
    last = last.first()
    if last is None or now - last >= datetime.timedelta(days=ANSWER_INTERVAL_DAYS):
        return None
    return timezone.localdate(last + datetime.timedelta(days=ANSWER_INTERVAL_DAYS))


def nps_answer(*, by: User, score: int, comment: str = "", now: datetime.datetime | None = None) -> NpsResponse:
    """Record the user's answer for their organisation."""
    access = access_for(by)
    if access is None or access.is_provider_staff or not access.can(Capability.ANSWER_NPS):
        raise ValidationError(NOT_A_RESPONDENT)
    if not isinstance(score, int) or not 0 <= score <= 10:
        raise ValidationError({"score": SCORE_RANGE})
    now = now or timezone.now()
    opens = next_answer_date(by, now=now)
    if opens is not None:
        last = NpsResponse.objects.filter(respondent=by).latest("answered_at").answered_at
        raise ValidationError(ANSWERED_RECENTLY % {"date": timezone.localdate(last), "next": opens})
    response = NpsResponse(customer_id=access.organisation_id, respondent=by, score=score, comment=comment.strip(),
                           answered_at=now)  # fmt: skip
    response.full_clean()
    response.save()
    return response


@dataclass(frozen=True)
class NpsMonth:
    month: datetime.date
    answers: int
    promoters: int
    passives: int
    detractors: int

    @property
    def nps(self) -> Decimal | None:
        return nps_score(promoters=self.promoters, detractors=self.detractors, answers=self.answers)


def nps_by_month(*, user: User, first: datetime.date, last: datetime.date, customer_id: int | None = None):
    """Per month from ``first``'s to ``last``'s (every month, empty ones too): the answers the user sees, by class;
    and the whole range's. One query."""
    first, last = first.replace(day=1), last.replace(day=1)
    end = add_months(last, 1)
    rows = NpsResponse.objects.visible_to(user).filter(answered_at__date__gte=first, answered_at__date__lt=end)
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    counted = {
        row["month"].date() if isinstance(row["month"], datetime.datetime) else row["month"]: row
        for row in rows.annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            answers=Count("pk"),
            promoters=Count("pk", filter=Q(score__gte=PROMOTER_FROM)),
            detractors=Count("pk", filter=Q(score__lte=DETRACTOR_UNTIL)),
        )
        .order_by("month")
    }
    months = []
    for month in months_from(first, last):
        row = counted.get(month, {"answers": 0, "promoters": 0, "detractors": 0})
        months.append(
            NpsMonth(
                month=month,
                answers=row["answers"],
                promoters=row["promoters"],
                passives=row["answers"] - row["promoters"] - row["detractors"],
                detractors=row["detractors"],
            )
        )
    total = NpsMonth(
        month=first,
        answers=sum(m.answers for m in months),
        promoters=sum(m.promoters for m in months),
        passives=sum(m.passives for m in months),
        detractors=sum(m.detractors for m in months),
    )
    return months, total


@dataclass(frozen=True)
class CustomerNps:
    customer_id: int
    name: str
    answers: int
    promoters: int
    detractors: int

    @property
    def nps(self) -> Decimal | None:
        return nps_score(promoters=self.promoters, detractors=self.detractors, answers=self.answers)


def nps_by_customer(*, user: User, first: datetime.date, last: datetime.date) -> list[CustomerNps]:
    """Per customer the user sees, the answers of the months ``first``..``last`` and their NPS; one query."""
    first, last = first.replace(day=1), last.replace(day=1)
    end = add_months(last, 1)
    rows = (
        NpsResponse.objects.visible_to(user)
        .filter(answered_at__date__gte=first, answered_at__date__lt=end)
        .values("customer_id", "customer__name")
        .annotate(
            answers=Count("pk"),
            promoters=Count("pk", filter=Q(score__gte=PROMOTER_FROM)),
            detractors=Count("pk", filter=Q(score__lte=DETRACTOR_UNTIL)),
        )
        .order_by("customer__name", "customer_id")
    )
    return [
        CustomerNps(row["customer_id"], row["customer__name"], row["answers"], row["promoters"], row["detractors"])
        for row in rows
    ]
