"""API v1 of alerts and alert rules: scoped reads, filters, acknowledge and resolve, rule maintenance."""

from decimal import Decimal

import pytest

from accounts.choices import Role
from accounts.tests.factories import CustomerFactory, ProviderFactory, member
from assets.tests.factories import AssetFactory
from telemetry import alerts
from telemetry.choices import AlertRuleKind, AlertStatus, Severity, Supply
from telemetry.models import Alert, AlertRule
from telemetry.tests.alert_factories import AlertFactory, AlertOccurrenceFactory, AlertRuleFactory

pytestmark = pytest.mark.django_db

ALERTS = "/api/v1/alerts/"
RULES = "/api/v1/alert-rules/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def rule(provider):
    return AlertRuleFactory(provider=provider, name="Black toner below 10%")


@pytest.fixture
def alert(asset, rule):
    return AlertFactory(asset=asset, rule=rule)


@pytest.fixture
def other_alert(other_asset, rule):
    return AlertFactory(asset=other_asset, rule=rule)


@pytest.fixture
def desk(provider):
    return member(provider, Role.SERVICE_DESK, email="desk@provider.example")


# --- Alerts -----------------------------------------------------------------------------------------------------


def test_customer_users_list_only_their_alerts(api_client_for, customer_admin, alert, other_alert):
    assert ids(api_client_for(customer_admin).get(ALERTS)) == [alert.pk]


def test_service_desk_lists_every_customers_alerts(api_client_for, desk, alert, other_alert):
    assert sorted(ids(api_client_for(desk).get(ALERTS))) == sorted([alert.pk, other_alert.pk])


def test_another_tenants_alert_is_not_found(api_client_for, customer_admin, other_alert):
    client = api_client_for(customer_admin)
    assert client.get(f"{ALERTS}{other_alert.pk}/").status_code == 404
    assert client.get(f"{ALERTS}{other_alert.pk}/occurrences/").status_code == 404


def test_alert_detail_reads_as_the_portal_shows_it(api_client_for, customer_admin, alert, site):
    data = api_client_for(customer_admin).get(f"{ALERTS}{alert.pk}/").json()
    assert data["condition"] == Supply.TONER_BLACK
    assert data["condition_label"] == "Black toner"
    assert (data["site"], data["site_name"], data["rule_name"], data["kind"]) == (
        site.pk,
        site.name,
        "Black toner below 10%",
        AlertRuleKind.SUPPLY_BELOW,
    )
    assert data["status"] == AlertStatus.OPEN


def test_alert_list_filters(api_client_for, provider, desk, customer, asset, other_asset, rule):
    critical = AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.CRITICAL))
    resolved = AlertFactory(asset=asset, rule=rule, status=AlertStatus.RESOLVED)
    elsewhere = AlertFactory(asset=other_asset, rule=rule)
    client = api_client_for(desk)
    assert ids(client.get(ALERTS, {"severity": "critical"})) == [critical.pk]
    assert sorted(ids(client.get(ALERTS, {"status": "active"}))) == sorted([critical.pk, elsewhere.pk])
    assert sorted(ids(client.get(ALERTS, {"customer": customer.pk}))) == sorted([critical.pk, resolved.pk])
    assert ids(client.get(ALERTS, {"site": other_asset.site_id})) == [elsewhere.pk]
    assert ids(client.get(ALERTS, {"ordering": "-severity_rank"}))[0] == critical.pk


def test_filtering_by_another_tenants_site_or_a_bad_status_is_refused(api_client_for, customer_admin, other_asset):
    client = api_client_for(customer_admin)
    assert client.get(ALERTS, {"site": other_asset.site_id}).status_code == 400
    assert client.get(ALERTS, {"status": "exploded"}).status_code == 400


def test_occurrences_are_listed_newest_first(api_client_for, customer_admin, alert):
    older = AlertOccurrenceFactory(alert=alert, at=alert.first_seen_at, message="first")
    newer = AlertOccurrenceFactory(alert=alert, at=alert.last_seen_at.replace(hour=12), message="second")
    response = api_client_for(customer_admin).get(f"{ALERTS}{alert.pk}/occurrences/")
    assert ids(response) == [newer.pk, older.pk]


def test_service_desk_acknowledges_and_resolves(api_client_for, desk, alert):
    client = api_client_for(desk)
    response = client.post(f"{ALERTS}{alert.pk}/acknowledge/", {"note": "On it"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["acknowledgement_note"]) == (AlertStatus.ACKNOWLEDGED, "On it")

    response = client.post(f"{ALERTS}{alert.pk}/resolve/", {"note": "Replaced"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["resolved_by"]) == (AlertStatus.RESOLVED, str(desk))


def test_resolve_needs_a_note(api_client_for, desk, alert):
    response = api_client_for(desk).post(f"{ALERTS}{alert.pk}/resolve/", {})
    assert response.status_code == 400
    assert "note" in response.json()


def test_resolving_twice_is_a_400_with_the_reason(api_client_for, desk, alert):
    client = api_client_for(desk)
    client.post(f"{ALERTS}{alert.pk}/resolve/", {"note": "Done"})
    response = client.post(f"{ALERTS}{alert.pk}/resolve/", {"note": "Again"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [str(alerts.ALERT_ALREADY_RESOLVED)]}


def test_customer_admin_may_not_handle_their_own_alert(api_client_for, customer_admin, alert):
    assert api_client_for(customer_admin).post(f"{ALERTS}{alert.pk}/acknowledge/", {}).status_code == 403
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_handler_cannot_reach_another_providers_alert(api_client_for, alert):
    stranger = member(ProviderFactory(code="p2", name="Second provider"), Role.SERVICE_DESK)
    response = api_client_for(stranger).post(f"{ALERTS}{alert.pk}/resolve/", {"note": "x"})
    assert response.status_code == 404
    assert Alert.objects.get().status == AlertStatus.OPEN


@pytest.mark.parametrize("size", [3, 30])
def test_alert_list_query_count_is_constant(
    api_client_for, desk, customer, site, rule, size, django_assert_max_num_queries
):
    for asset in AssetFactory.create_batch(size, customer=customer, site=site):
        AlertFactory(asset=asset, rule=rule, status=AlertStatus.RESOLVED, resolved_by=desk, acknowledged_by=desk)
    client = api_client_for(desk)
    with django_assert_max_num_queries(6):
        response = client.get(ALERTS, {"page_size": 100})
    assert len(response.json()["results"]) == size


# --- Rules ------------------------------------------------------------------------------------------------------


def test_customer_users_read_general_rules_and_their_own(api_client_for, provider, customer, other_customer):
    general = AlertRuleFactory(provider=provider, name="general")
    own = AlertRuleFactory(provider=provider, customer=customer, name="own")
    others = AlertRuleFactory(provider=provider, customer=other_customer, name="others")
    client = api_client_for(member(customer, Role.CUSTOMER_VIEWER))

    assert sorted(ids(client.get(RULES))) == sorted([general.pk, own.pk])
    assert client.get(f"{RULES}{others.pk}/").status_code == 404


def test_provider_admin_creates_a_rule(api_client_for, provider_admin, provider, customer):
    response = api_client_for(provider_admin).post(
        RULES,
        {
            "name": "Acme jams",
            "kind": AlertRuleKind.EVENT_CODE,
            "severity": Severity.ERROR,
            "customer": customer.pk,
            "code_pattern": "J*",
            "threshold": "3.5",
        },
    )
    assert response.status_code == 201, response.content
    rule = AlertRule.objects.get()
    assert (rule.provider, rule.customer, rule.code_pattern, rule.threshold) == (provider, customer, "J*", None)
    assert response.json()["customer_name"] == customer.name


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Toner", "kind": AlertRuleKind.SUPPLY_BELOW, "threshold": "150"}, "threshold"),
        ({"name": "Jams", "kind": AlertRuleKind.EVENT_CODE}, "code_pattern"),
        ({"name": "Hours", "kind": "hours"}, "kind"),
    ],
)
def test_invalid_rule_is_a_400_naming_the_field(api_client_for, provider_admin, body, field):
    response = api_client_for(provider_admin).post(RULES, body)
    assert response.status_code == 400
    assert field in response.json()
    assert not AlertRule.objects.exists()


def test_rule_naming_another_providers_customer_is_refused(api_client_for, provider_admin):
    stranger = CustomerFactory(provider=ProviderFactory(code="p2", name="Second provider"))
    response = api_client_for(provider_admin).post(
        RULES, {"name": "R", "kind": AlertRuleKind.SILENT, "customer": stranger.pk}
    )
    assert response.status_code == 400
    assert "customer" in response.json()


@pytest.mark.parametrize("role", [Role.SERVICE_DESK, Role.ACCOUNT_MANAGER, Role.TECHNICIAN])
def test_only_provider_admins_write_rules(api_client_for, provider, rule, role):
    client = api_client_for(member(provider, role))
    assert client.post(RULES, {"name": "R", "kind": AlertRuleKind.SILENT}).status_code == 403
    assert client.patch(f"{RULES}{rule.pk}/", {"name": "Renamed"}).status_code in (403, 404)
    assert client.post(f"{RULES}{rule.pk}/active/", {"active": False}).status_code in (403, 404)
    rule.refresh_from_db()
    assert (rule.name, rule.is_active) == ("Black toner below 10%", True)


def test_provider_admin_updates_and_deactivates_a_rule(api_client_for, provider_admin, rule):
    client = api_client_for(provider_admin)
    response = client.patch(f"{RULES}{rule.pk}/", {"threshold": "5", "severity": Severity.CRITICAL})
    assert response.status_code == 200, response.content
    assert (response.json()["threshold"], response.json()["severity"]) == ("5.000", Severity.CRITICAL)

    response = client.post(f"{RULES}{rule.pk}/active/", {"active": False})
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    rule.refresh_from_db()
    assert (rule.threshold, rule.is_active) == (Decimal("5"), False)


def test_put_replaces_a_rules_condition(api_client_for, provider_admin, rule):
    response = api_client_for(provider_admin).put(
        f"{RULES}{rule.pk}/", {"name": "Silent", "kind": AlertRuleKind.SILENT, "silent_hours": 12}
    )
    assert response.status_code == 200, response.content
    rule.refresh_from_db()
    assert (rule.kind, rule.silent_hours, rule.supply, rule.threshold) == (AlertRuleKind.SILENT, 12, "", None)
