"""Approvals: settings inheritance, estimates against the not-to-exceed amount, decisions, blocked moves,
the approval e-mail and the repair-or-replace figures."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory
from assets.tests.factories import AssetFactory
from maintenance import approvals, services
from maintenance.choices import ApprovalStatus, WorkOrderKind, WorkOrderStatus
from maintenance.models import MaintenanceSettings, WorkOrderEvent, WorkOrderLabour, WorkOrderPart
from maintenance.tests.factories import WorkOrderFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def limits(provider, customer):
    """Provider defaults ¥50,000 / review above ¥300,000 / ¥8,000 an hour; the customer's own limit ¥100,000."""
    MaintenanceSettings.objects.create(
        organisation=provider,
        currency="JPY",
        not_to_exceed=Decimal("50000"),
        replace_review_above=Decimal("300000"),
        labour_rate=Decimal("8000"),
    )
    return MaintenanceSettings.objects.create(organisation=customer, currency="JPY", not_to_exceed=Decimal("100000"))


@pytest.fixture
def work_order(asset, technician, service_desk):
    order = WorkOrderFactory(asset=asset)
    return services.work_order_assign(work_order=order, technician=technician, by=service_desk)


def _estimate(work_order, amount, by, **kwargs):
    return approvals.work_order_estimate(work_order=work_order, amount=Decimal(amount), by=by, **kwargs)


def _messages(error: ValidationError) -> dict:
    return {field: [str(message) for message in messages] for field, messages in error.message_dict.items()}


# --- Settings --------------------------------------------------------------------------------------------------


def test_customer_settings_inherit_empty_amounts_from_the_provider_in_one_query(
    limits, customer, django_assert_num_queries
):
    with django_assert_num_queries(1):
        resolved = approvals.maintenance_settings_for(customer=customer)
    assert resolved.not_to_exceed == Decimal("100000")
    assert resolved.replace_review_above == Decimal("300000")
    assert resolved.labour_rate == Decimal("8000")
    assert resolved.inherited == {"replace_review_above", "labour_rate"}


def test_customer_without_a_row_takes_the_provider_defaults(limits, other_customer):
    resolved = approvals.maintenance_settings_for(customer=other_customer)
    assert (resolved.currency, resolved.not_to_exceed) == ("JPY", Decimal("50000"))


def test_amounts_are_not_inherited_into_another_currency(limits, customer):
    limits.currency = "USD"
    limits.not_to_exceed = Decimal("800.00")
    limits.save()
    resolved = approvals.maintenance_settings_for(customer=customer)
    assert (resolved.currency, resolved.not_to_exceed, resolved.replace_review_above) == ("USD", Decimal("800"), None)


def test_without_any_limit_no_approval_is_needed(work_order, service_desk):
    _estimate(work_order, "9999999", service_desk)
    assert work_order.approval_status == ApprovalStatus.NOT_REQUIRED


def test_settings_update_refuses_negative_amounts(limits, provider_admin, customer):
    with pytest.raises(ValidationError) as refused:
        approvals.maintenance_settings_update(
            organisation=customer, by=provider_admin, not_to_exceed=Decimal("-1"), labour_rate=Decimal("-5")
        )
    assert _messages(refused.value) == {
        "not_to_exceed": [str(approvals.NEGATIVE_AMOUNT)],
        "labour_rate": [str(approvals.NEGATIVE_AMOUNT)],
    }


def test_settings_update_refuses_a_review_below_the_limit_also_when_inherited(limits, provider_admin, customer):
    with pytest.raises(ValidationError) as refused:
        approvals.maintenance_settings_update(
            organisation=customer, by=provider_admin, not_to_exceed=Decimal("400000")
        )  # the inherited review amount ¥300,000 would sit below it
    assert _messages(refused.value) == {"replace_review_above": [str(approvals.REPLACE_BELOW_LIMIT)]}


def test_settings_update_refuses_yen_fractions(limits, provider_admin, customer):
    with pytest.raises(ValidationError) as refused:
        approvals.maintenance_settings_update(organisation=customer, by=provider_admin, not_to_exceed=Decimal("1.50"))
    assert list(_messages(refused.value)) == ["not_to_exceed"]


def test_account_manager_sets_limits_of_their_customers_only(limits, provider, customer, other_customer, make_member):
    manager = make_member(provider, Role.ACCOUNT_MANAGER, email="am@provider.example")
    customer.account_managers.add(manager)
    approvals.maintenance_settings_update(organisation=customer, by=manager, not_to_exceed=Decimal("70000"))
    assert approvals.maintenance_settings_for(customer=customer).not_to_exceed == Decimal("70000")
    for organisation in (other_customer, provider):  # not theirs; the defaults are the provider admin's
        with pytest.raises(ValidationError):
            approvals.maintenance_settings_update(organisation=organisation, by=manager, not_to_exceed=Decimal("1"))


@pytest.mark.parametrize("role", [Role.SERVICE_DESK, Role.TECHNICIAN])
def test_desk_and_technicians_may_not_set_limits(limits, provider, customer, make_member, role):
    user = make_member(provider, role)
    with pytest.raises(ValidationError):
        approvals.maintenance_settings_update(organisation=customer, by=user, not_to_exceed=Decimal("1"))


def test_customer_admin_may_not_set_their_own_limit(limits, customer, customer_admin):
    with pytest.raises(ValidationError):
        approvals.maintenance_settings_update(organisation=customer, by=customer_admin, not_to_exceed=Decimal("1"))


def test_provider_admin_sets_the_defaults(provider, provider_admin, other_customer):
    approvals.maintenance_settings_update(organisation=provider, by=provider_admin, not_to_exceed=Decimal("30000"))
    assert approvals.maintenance_settings_for(customer=other_customer).not_to_exceed == Decimal("30000")


# --- Estimates ---------------------------------------------------------------------------------------------------


def test_estimate_equal_to_the_limit_needs_no_approval(limits, work_order, service_desk):
    _estimate(work_order, "100000", service_desk)
    work_order.refresh_from_db()
    assert (work_order.approval_status, work_order.estimate_amount) == (ApprovalStatus.NOT_REQUIRED, Decimal("100000"))


def test_estimate_above_the_limit_waits_and_the_timeline_names_no_amount(limits, work_order, service_desk):
    _estimate(work_order, "100001", service_desk, replacement_quote=Decimal("2500000"), note="Motor burnt")
    work_order.refresh_from_db()
    assert work_order.approval_status == ApprovalStatus.PENDING
    assert work_order.replacement_quote == Decimal("2500000")
    event = WorkOrderEvent.objects.filter(work_order=work_order).latest("id")
    assert event.to_status == WorkOrderStatus.ASSIGNED == event.from_status
    assert "Motor burnt" in event.note and "100" not in event.note


@pytest.mark.parametrize("role", [Role.TECHNICIAN, Role.ACCOUNT_MANAGER])
def test_estimate_needs_dispatching_staff(limits, work_order, provider, make_member, role):
    with pytest.raises(ValidationError, match="may not enter estimates"):
        _estimate(work_order, "1000", make_member(provider, role))


def test_customer_admin_may_not_enter_estimates(limits, work_order, customer_admin):
    with pytest.raises(ValidationError):
        _estimate(work_order, "1000", customer_admin)


def test_estimate_is_refused_once_the_work_started(limits, work_order, technician, service_desk):
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    with pytest.raises(ValidationError) as refused:
        _estimate(work_order, "1000", service_desk)
    assert refused.value.messages == [str(approvals.ESTIMATE_NOT_OPEN)]


def test_negative_estimate_is_a_field_error(limits, work_order, service_desk):
    with pytest.raises(ValidationError) as refused:
        _estimate(work_order, "-1", service_desk, replacement_quote=Decimal("-2"))
    assert set(refused.value.message_dict) == {"amount", "replacement_quote"}


def test_pending_order_cannot_start_and_allowed_transitions_agree(limits, work_order, technician, service_desk):
    _estimate(work_order, "150000", service_desk)
    for user in (technician, service_desk):
        allowed = services.work_order_allowed_transitions(work_order=work_order, user=user)
        assert not set(allowed) & {WorkOrderStatus.EN_ROUTE, WorkOrderStatus.IN_PROGRESS, WorkOrderStatus.COMPLETED}
    assert WorkOrderStatus.ON_HOLD in services.work_order_allowed_transitions(work_order=work_order, user=technician)
    for to_status in (WorkOrderStatus.EN_ROUTE, WorkOrderStatus.IN_PROGRESS):
        with pytest.raises(ValidationError, match="waits for the customer's approval"):
            services.work_order_transition(work_order=work_order, to_status=to_status, by=technician)
    # Holding and cancelling stay possible.
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.ON_HOLD, by=technician)
    with pytest.raises(ValidationError):
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)


def test_approved_order_starts_and_completes(limits, work_order, technician, service_desk, customer_admin):
    _estimate(work_order, "150000", service_desk)
    approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.APPROVED, by=customer_admin)
    assert WorkOrderStatus.IN_PROGRESS in services.work_order_allowed_transitions(
        work_order=work_order, user=technician
    )
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.IN_PROGRESS, by=technician)
    services.work_order_complete(work_order=work_order, by=technician, notes="Done")
    assert work_order.status == WorkOrderStatus.COMPLETED


def test_rejected_order_cannot_start_but_the_desk_may_cancel(
    limits, work_order, technician, service_desk, customer_admin
):
    _estimate(work_order, "150000", service_desk)
    approvals.work_order_approval_decide(
        work_order=work_order, decision=ApprovalStatus.REJECTED, by=customer_admin, note="Too expensive"
    )
    with pytest.raises(ValidationError) as refused:
        services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.EN_ROUTE, by=technician)
    assert refused.value.messages == [str(services.ESTIMATE_REJECTED)]
    services.work_order_transition(work_order=work_order, to_status=WorkOrderStatus.CANCELLED, by=service_desk)


def test_revised_estimate_within_the_limit_needs_no_approval_any_more(limits, work_order, service_desk):
    _estimate(work_order, "150000", service_desk)
    _estimate(work_order, "90000", service_desk)
    assert work_order.approval_status == ApprovalStatus.NOT_REQUIRED


def test_approval_covers_a_lower_revision_but_not_a_higher_one(limits, work_order, service_desk, customer_admin):
    _estimate(work_order, "150000", service_desk)
    approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.APPROVED, by=customer_admin)
    _estimate(work_order, "140000", service_desk)
    work_order.refresh_from_db()
    assert work_order.approval_status == ApprovalStatus.APPROVED
    assert work_order.approval_decided_by == customer_admin
    _estimate(work_order, "160000", service_desk)
    work_order.refresh_from_db()
    assert (work_order.approval_status, work_order.approval_decided_by) == (ApprovalStatus.PENDING, None)


def test_rejected_estimate_revised_above_the_limit_asks_again(limits, work_order, service_desk, customer_admin):
    _estimate(work_order, "150000", service_desk)
    approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.REJECTED, by=customer_admin)
    _estimate(work_order, "120000", service_desk)
    assert work_order.approval_status == ApprovalStatus.PENDING


# --- Decisions ---------------------------------------------------------------------------------------------------


def test_customer_admin_approves_and_the_decision_is_stamped(limits, work_order, service_desk, customer_admin):
    _estimate(work_order, "150000", service_desk)
    approvals.work_order_approval_decide(
        work_order=work_order, decision=ApprovalStatus.APPROVED, by=customer_admin, note="Go ahead"
    )
    work_order.refresh_from_db()
    assert work_order.approval_status == ApprovalStatus.APPROVED
    assert work_order.approval_decided_by == customer_admin
    assert work_order.approval_decided_at is not None
    assert work_order.approval_note == "Go ahead"
    assert WorkOrderEvent.objects.filter(work_order=work_order, note__contains="Go ahead").exists()


def test_only_the_customers_own_admin_decides(limits, work_order, service_desk, other_admin, provider_admin, customer):
    from accounts.tests.factories import member

    viewer = member(customer, Role.CUSTOMER_VIEWER)
    _estimate(work_order, "150000", service_desk)
    for user in (other_admin, provider_admin, service_desk, viewer):
        with pytest.raises(ValidationError) as refused:
            approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.APPROVED, by=user)
        assert refused.value.messages == [str(approvals.NOT_ALLOWED_TO_DECIDE)]
    work_order.refresh_from_db()
    assert work_order.approval_status == ApprovalStatus.PENDING


def test_decision_needs_a_pending_estimate(limits, work_order, service_desk, customer_admin):
    _estimate(work_order, "1000", service_desk)
    with pytest.raises(ValidationError) as refused:
        approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.APPROVED, by=customer_admin)
    assert refused.value.messages == [str(approvals.NOT_PENDING)]


def test_replace_is_offered_only_above_the_review_amount(limits, work_order, service_desk, customer_admin):
    _estimate(work_order, "300000", service_desk)  # at the review amount: not above it
    assert not approvals.replace_offered(
        work_order=work_order, resolved=approvals.maintenance_settings_for(customer=work_order.customer)
    )
    with pytest.raises(ValidationError) as refused:
        approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.REPLACE, by=customer_admin)
    assert _messages(refused.value) == {"decision": [str(approvals.REPLACE_NOT_OFFERED)]}
    _estimate(work_order, "300001", service_desk)
    approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.REPLACE, by=customer_admin)
    assert work_order.approval_status == ApprovalStatus.REPLACE


def test_desk_converts_a_replace_decision_into_removal_and_installation(
    limits, work_order, service_desk, customer_admin
):
    _estimate(work_order, "400000", service_desk, replacement_quote=Decimal("2000000"))
    approvals.work_order_approval_decide(work_order=work_order, decision=ApprovalStatus.REPLACE, by=customer_admin)
    removal, installation = approvals.work_order_convert_to_replacement(work_order=work_order, by=service_desk)
    work_order.refresh_from_db()
    assert work_order.status == WorkOrderStatus.CANCELLED
    assert (removal.kind, removal.asset_id, removal.site_id) == (
        WorkOrderKind.REMOVAL,
        work_order.asset_id,
        work_order.site_id,
    )
    assert (installation.kind, installation.asset_id) == (WorkOrderKind.INSTALLATION, None)


def test_conversion_needs_a_replace_decision(limits, work_order, service_desk):
    with pytest.raises(ValidationError) as refused:
        approvals.work_order_convert_to_replacement(work_order=work_order, by=service_desk)
    assert refused.value.messages == [str(approvals.NOT_MARKED_FOR_REPLACEMENT)]


# --- E-mail ------------------------------------------------------------------------------------------------------


def test_pending_estimate_mails_the_customer_admins_once_in_their_language(
    limits, work_order, service_desk, customer, customer_admin, make_member, django_capture_on_commit_callbacks
):
    english = make_member(customer, Role.CUSTOMER_ADMIN, email="en@acme.example", language="en")
    make_member(customer, Role.CUSTOMER_VIEWER, email="viewer@acme.example")
    with django_capture_on_commit_callbacks(execute=True):
        _estimate(work_order, "150000", service_desk)
    with django_capture_on_commit_callbacks(execute=True):
        _estimate(work_order, "150000", service_desk, note="same estimate again")
    assert sorted(message.to[0] for message in mail.outbox) == sorted([customer_admin.email, english.email])
    sent = {message.to[0]: message for message in mail.outbox}
    assert work_order.number in sent[english.email].subject
    assert "¥150,000" in sent[english.email].body and "¥100,000" in sent[english.email].body
    assert "/approvals/" in sent[english.email].body
    # A new amount is a new estimate: asked again.
    with django_capture_on_commit_callbacks(execute=True):
        _estimate(work_order, "160000", service_desk)
    assert len(mail.outbox) == 4


def test_estimate_within_the_limit_mails_nobody(
    limits, work_order, service_desk, customer_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _estimate(work_order, "20000", service_desk)
    assert mail.outbox == []


# --- Repair or replace -------------------------------------------------------------------------------------------


@pytest.fixture
def forklift(customer, site):
    return AssetFactory(
        customer=customer,
        site=site,
        install_date=datetime.date(2020, 6, 20),
        acquisition_cost=Decimal("3200000"),
        expected_life_months=120,
    )


def _past_order(asset, technician, *, parts=(), labour=(), status=WorkOrderStatus.CLOSED):
    order = WorkOrderFactory(asset=asset, status=status)
    for added_at, quantity, unit_cost in parts:
        WorkOrderPart.objects.create(
            work_order=order,
            description="Lift chain",
            quantity=Decimal(quantity),
            unit_cost=None if unit_cost is None else Decimal(unit_cost),
            added_at=added_at,
            replaces_installed=False,
        )
    for date, hours, rate in labour:
        WorkOrderLabour.objects.create(
            work_order=order,
            technician=technician,
            date=date,
            hours=Decimal(hours),
            rate=None if rate is None else Decimal(rate),
        )
    return order


def test_repair_or_replace_figures(limits, forklift, technician):
    at = datetime.datetime
    _past_order(
        forklift,
        technician,
        parts=[
            (at(2025, 2, 1, tzinfo=datetime.UTC), "2", "42000.50"),
            (at(2025, 6, 1, tzinfo=datetime.UTC), "1", None),
        ],
        labour=[(datetime.date(2025, 2, 1), "5.5", "8000"), (datetime.date(2025, 6, 1), "2", None)],  # 2 h at ¥8,000
    )
    _past_order(forklift, technician, parts=[(at(2024, 3, 1, tzinfo=datetime.UTC), "4", "6500")])
    _past_order(  # cancelled work costs nothing
        forklift,
        technician,
        parts=[(at(2025, 9, 1, tzinfo=datetime.UTC), "1", "999999")],
        status=WorkOrderStatus.CANCELLED,
    )
    current = WorkOrderFactory(
        asset=forklift, estimate_amount=Decimal("480000"), replacement_quote=Decimal("3600000"), currency="JPY"
    )
    WorkOrderPart.objects.create(  # the order's own parts are not history
        work_order=current,
        description="Motor",
        quantity=1,
        unit_cost=Decimal("1"),
        added_at=NOW,
        replaces_installed=False,
    )

    facts = approvals.repair_or_replace(work_order=current, now=NOW)

    assert [(year.year, year.parts, year.labour, year.total) for year in facts.history] == [
        (2025, Decimal("84001"), Decimal("60000"), Decimal("144001")),  # 84,001.00 rounds to the yen
        (2024, Decimal("26000"), Decimal("0"), Decimal("26000")),
    ]
    # Last 12 months (from 2025-03-15): the June parts without a cost count nothing, the June labour ¥16,000.
    assert facts.repairs_last_12_months == Decimal("16000")
    assert facts.age_months == 68  # 2020-06-20 to 2026-03-15
    assert (facts.acquisition_cost, facts.expected_life_months, facts.past_expected_life) == (
        Decimal("3200000.00"),
        120,
        False,
    )
    assert facts.replace_above == Decimal("1800000")
    assert facts.repair_total == Decimal("496000")
    assert facts.recommendation == approvals.RECOMMEND_REPAIR
    assert "50%" in facts.rule


def test_repair_or_replace_recommends_replacing_a_worn_out_or_costly_asset(limits, forklift):
    current = WorkOrderFactory(
        asset=forklift, estimate_amount=Decimal("1800001"), replacement_quote=Decimal("3600000"), currency="JPY"
    )
    assert approvals.repair_or_replace(work_order=current, now=NOW).recommendation == approvals.RECOMMEND_REPLACE
    current.estimate_amount = Decimal("1000")
    current.replacement_quote = None
    assert approvals.repair_or_replace(work_order=current, now=NOW).recommendation == approvals.RECOMMEND_NONE
    forklift.expected_life_months = 60
    assert approvals.repair_or_replace(work_order=current, now=NOW).recommendation == approvals.RECOMMEND_REPLACE


@pytest.mark.parametrize("orders", [2, 12])
def test_repair_or_replace_for_many_orders_takes_a_fixed_number_of_queries(
    limits, customer, site, technician, orders, django_assert_max_num_queries
):
    work_orders = []
    for _ in range(orders):
        asset = AssetFactory(customer=customer, site=site)
        _past_order(asset, technician, parts=[(NOW, "1", "100")], labour=[(NOW.date(), "1", "10")])
        work_orders.append(WorkOrderFactory(asset=asset, estimate_amount=Decimal("1"), replacement_quote=Decimal("9")))
    loaded = list(
        type(work_orders[0]).objects.filter(pk__in=[o.pk for o in work_orders]).select_related("asset", "customer")
    )
    with django_assert_max_num_queries(3):
        facts = approvals.repair_or_replace_many(loaded, now=NOW)
    assert len(facts) == orders
    assert all(fact.history[0].total == Decimal("110") for fact in facts.values())


def test_other_providers_settings_do_not_leak(customer):
    other_provider = ProviderFactory(code="p2", name="Other provider")
    MaintenanceSettings.objects.create(organisation=other_provider, not_to_exceed=Decimal("1"))
    foreign = CustomerFactory(provider=other_provider)
    assert approvals.maintenance_settings_for(customer=customer).not_to_exceed is None
    assert approvals.maintenance_settings_for(customer=foreign).not_to_exceed == Decimal("1")
