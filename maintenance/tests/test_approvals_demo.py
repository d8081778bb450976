"""The demo's approvals: limits set, a forklift repair waiting for みなと物流's admin, one approved in the past."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.models import Organisation, User
from maintenance import approvals
from maintenance.choices import ApprovalStatus, WorkOrderStatus
from maintenance.demo.approvals import PAST_REPAIR, PENDING_REPAIR

pytestmark = pytest.mark.django_db


def test_seed_demo_leaves_a_forklift_repair_waiting_for_the_customer_admin_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    admin = User.objects.get(email="admin@minato-logistics.example")
    waiting = approvals.approval_list(user=admin).get(description=PENDING_REPAIR)
    past = approvals.approval_list(user=admin).get(description=PAST_REPAIR)

    assert waiting.approval_status == ApprovalStatus.PENDING
    assert approvals.may_decide(user=admin, work_order=waiting)
    customer = Organisation.objects.get(code="minato-logistics")
    resolved = approvals.maintenance_settings_for(customer=customer)
    assert (resolved.not_to_exceed, resolved.replace_review_above) == (Decimal("100000"), Decimal("300000"))
    assert approvals.replace_offered(work_order=waiting, resolved=resolved)
    facts = approvals.repair_or_replace(work_order=waiting)
    assert facts.history and sum(year.total for year in facts.history) == Decimal(
        "154000"
    )  # 2 x 42,000 + 4 x 6,500 + 5.5 h x 8,000
    assert (past.approval_status, past.status) == (ApprovalStatus.APPROVED, WorkOrderStatus.CLOSED)
    assert [message for message in mail.outbox if "approval" in message.subject.lower()] == []

    call_command("seed_demo", stdout=StringIO())
    assert approvals.approval_list(user=admin).count() == 2
