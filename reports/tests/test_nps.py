"""NPS: the score's definition on crafted answers, who answers and how often, the provider's page and the API."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from accounts.tests.factories import member
from reports.models import NpsResponse
from reports.nps import nps_answer, nps_by_customer, nps_by_month, nps_score

NOW = datetime.datetime(2025, 11, 20, 12, tzinfo=datetime.UTC)


def answer(customer, score, when, respondent=None):
    return NpsResponse.objects.create(customer=customer, respondent=respondent, score=score, answered_at=when)


@pytest.mark.parametrize(
    ("promoters", "detractors", "answers", "expected"),
    [(5, 2, 10, Decimal("30.0")), (1, 2, 3, Decimal("-33.3")), (2, 0, 3, Decimal("66.7")), (0, 0, 0, None)],
)
def test_nps_is_the_share_of_promoters_less_the_share_of_detractors(promoters, detractors, answers, expected):
    assert nps_score(promoters=promoters, detractors=detractors, answers=answers) == expected


def test_nps_by_month_counts_classes_and_keeps_empty_months(provider_admin, customer, other_customer):
    for score in (10, 9, 8, 6, 0):  # September: two promoters, a passive, two detractors
        answer(customer, score, datetime.datetime(2025, 9, 10, tzinfo=datetime.UTC))
    for score in (9, 7):  # November, another customer
        answer(other_customer, score, datetime.datetime(2025, 11, 3, tzinfo=datetime.UTC))

    months, total = nps_by_month(user=provider_admin, first=datetime.date(2025, 9, 1), last=datetime.date(2025, 11, 1))

    assert [(m.month.month, m.answers, m.promoters, m.passives, m.detractors, m.nps) for m in months] == [
        (9, 5, 2, 1, 2, Decimal("0.0")),
        (10, 0, 0, 0, 0, None),
        (11, 2, 1, 1, 0, Decimal("50.0")),
    ]
    assert (total.answers, total.nps) == (7, Decimal("14.3"))  # (3 - 2) / 7
    by_customer = {row.name: (row.answers, row.nps) for row in nps_by_customer(
        user=provider_admin, first=datetime.date(2025, 9, 1), last=datetime.date(2025, 11, 1))}  # fmt: skip
    assert by_customer == {customer.name: (5, Decimal("0.0")), other_customer.name: (2, Decimal("50.0"))}


def test_an_account_manager_sees_the_answers_of_the_customers_assigned(provider, customer, other_customer):
    manager = member(provider, Role.ACCOUNT_MANAGER)
    customer.account_managers.add(manager)
    answer(customer, 10, NOW)
    answer(other_customer, 0, NOW)

    _months, total = nps_by_month(user=manager, first=NOW.date(), last=NOW.date())

    assert (total.answers, total.nps) == (1, Decimal("100.0"))


def test_a_customer_admin_answers_once_every_ninety_days(customer_admin, customer):
    first = nps_answer(by=customer_admin, score=8, comment=" Fast repairs ", now=NOW)
    assert (first.customer, first.score, first.comment) == (customer, 8, "Fast repairs")

    with pytest.raises(ValidationError, match="the survey opens again on"):
        nps_answer(by=customer_admin, score=9, now=NOW + datetime.timedelta(days=89))
    nps_answer(by=customer_admin, score=9, now=NOW + datetime.timedelta(days=90))

    assert NpsResponse.objects.count() == 2


@pytest.mark.parametrize("role", [Role.CUSTOMER_VIEWER, Role.PROVIDER_ADMIN])
def test_only_customer_admins_answer(customer, provider, role):
    user = member(provider if role == Role.PROVIDER_ADMIN else customer, role)
    with pytest.raises(ValidationError):
        nps_answer(by=user, score=5)


def test_a_score_out_of_range_is_refused(customer_admin):
    with pytest.raises(ValidationError) as error:
        nps_answer(by=customer_admin, score=11)
    assert "score" in error.value.message_dict


# --- Portal and API -------------------------------------------------------------------------------------------


def test_the_survey_page_records_an_answer_then_says_when_it_opens_again(client, customer_admin):
    client.force_login(customer_admin)
    url = reverse("reports:nps_answer")

    assert client.post(url, {"score": "11"}).status_code == 200  # a form error, nothing written
    response = client.post(url, {"score": "10", "comment": "Great service"})

    assert response.status_code == 302
    assert NpsResponse.objects.get().score == 10
    assert "The survey opens again on" in client.get(url).content.decode()


def test_the_nps_page_shows_months_customers_and_comments(client, provider_admin, customer, customer_admin):
    answer(customer, 3, timezone.now() - datetime.timedelta(days=1), respondent=customer_admin)
    NpsResponse.objects.update(comment="<b>Slow</b> toner")  # typed text, escaped on the page
    client.force_login(provider_admin)

    body = client.get(reverse("reports:nps")).content.decode()

    assert "-100.0" in body and customer.name in body
    assert "&lt;b&gt;Slow&lt;/b&gt; toner" in body and "<b>Slow</b>" not in body
    client.force_login(customer_admin)
    assert client.get(reverse("reports:nps")).status_code == 404


def test_api_answers_and_summary(api_client_for, customer_admin, provider_admin, customer):
    answered = api_client_for(customer_admin).post("/api/v1/nps-responses/", {"score": 9, "comment": "Good"})
    assert answered.status_code == 201 and answered.json()["customer"] == customer.pk
    again = api_client_for(customer_admin).post("/api/v1/nps-responses/", {"score": 9})
    assert again.status_code == 400

    month = f"{timezone.localdate():%Y-%m}"
    summary = api_client_for(provider_admin).get("/api/v1/nps/", {"from": month, "to": month})
    assert summary.status_code == 200
    assert summary.json()["total"]["nps"] == "100.0"
    assert summary.json()["customers"] == [
        {"customer": customer.pk, "name": customer.name, "answers": 1, "nps": "100.0"}
    ]
    assert api_client_for(provider_admin).get("/api/v1/nps/", {"from": "2025-11", "to": "2025-10"}).status_code == 400
    assert api_client_for(customer_admin).get("/api/v1/nps/", {"from": month, "to": month}).status_code == 403
