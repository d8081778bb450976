"""Portal pages of alerts and alert rules: scoping, filters, sorting, CSV, handling, rules, tiles and the panel."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.choices import Role
from accounts.tests.factories import member
from assets.tests.factories import AssetFactory, SiteFactory
from telemetry.choices import AlertRuleKind, AlertStatus, Severity, Supply
from telemetry.models import Alert, AlertRule
from telemetry.tests.alert_factories import AlertFactory, AlertOccurrenceFactory, AlertRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(provider):
    return AlertRuleFactory(provider=provider, name="Black toner below 10%")


@pytest.fixture
def alert(asset, rule):
    return AlertFactory(asset=asset, rule=rule, message="4%")


@pytest.fixture
def other_alert(other_asset, rule):
    return AlertFactory(asset=other_asset, rule=rule, message="OTHER-TENANT-ALERT")


@pytest.fixture
def desk(provider):
    return member(provider, Role.SERVICE_DESK, email="desk@provider.example")


def csv_body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


# --- List and detail --------------------------------------------------------------------------------------------


def test_alert_list_shows_only_the_customers_own_alerts(client, customer_admin, alert, other_alert):
    client.force_login(customer_admin)
    response = client.get(reverse("telemetry:alert_list"))
    assert response.status_code == 200
    assert [obj for obj, _cells in response.context["rows"]] == [alert]
    assert "OTHER-TENANT-ALERT" not in response.text


def test_operator_sees_only_the_alerts_of_their_sites(client, customer, site, alert, rule):
    elsewhere = AlertFactory(asset=AssetFactory(customer=customer, site=SiteFactory(customer=customer)), rule=rule)
    operator = member(customer, Role.CUSTOMER_OPERATOR)
    site.operators.add(operator.membership)
    client.force_login(operator)
    rows = client.get(reverse("telemetry:alert_list")).context["rows"]
    assert [obj for obj, _cells in rows] == [alert]
    assert client.get(reverse("telemetry:alert_detail", args=[elsewhere.pk])).status_code == 404


def test_another_tenants_alert_is_not_found(client, customer_admin, other_alert):
    client.force_login(customer_admin)
    assert client.get(reverse("telemetry:alert_detail", args=[other_alert.pk])).status_code == 404


def test_alert_list_filters_by_severity_status_customer_site_and_rule(
    client, provider, provider_admin, customer, asset, other_asset, rule
):
    critical_rule = AlertRuleFactory(provider=provider, name="Fuser", severity=Severity.CRITICAL)
    critical = AlertFactory(asset=asset, rule=critical_rule)
    resolved = AlertFactory(asset=asset, rule=rule, status=AlertStatus.RESOLVED)
    open_other = AlertFactory(asset=other_asset, rule=rule)
    client.force_login(provider_admin)

    def listed(**params):
        return {obj.pk for obj, _cells in client.get(reverse("telemetry:alert_list"), params).context["rows"]}

    assert listed(severity=Severity.CRITICAL) == {critical.pk}
    assert listed(status="active") == {critical.pk, open_other.pk}
    assert listed(status=AlertStatus.RESOLVED) == {resolved.pk}
    assert listed(customer=customer.pk) == {critical.pk, resolved.pk}
    assert listed(site=asset.site_id) == {critical.pk, resolved.pk}
    assert listed(rule=critical_rule.pk) == {critical.pk}
    assert listed(q=other_asset.serial_number) == {open_other.pk}


def test_alert_list_sorts_by_severity_and_exports_csv(client, provider, customer_admin, asset, rule):
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.INFO), message="MINOR")
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider, severity=Severity.CRITICAL), message="MAJOR")
    client.force_login(customer_admin)

    text = client.get(reverse("telemetry:alert_list"), {"sort": "-severity"}).text
    assert text.index("MAJOR") < text.index("MINOR")

    body = csv_body(client.get(reverse("telemetry:alert_list"), {"format": "csv", "sort": "severity"}))
    lines = body.strip().splitlines()
    assert lines[0].startswith("Severity,Condition,Asset,Site,")  # no customer column for customer users
    assert lines[1].startswith("Info,Black toner,") and lines[2].startswith("Critical,Black toner,")


@pytest.mark.parametrize("size", [5, 50])
def test_alert_list_query_count_is_constant(
    client, provider_admin, customer, site, rule, size, django_assert_max_num_queries
):
    for asset in AssetFactory.create_batch(size, customer=customer, site=site):
        AlertFactory(asset=asset, rule=rule)
    client.force_login(provider_admin)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("telemetry:alert_list"), {"per_page": 100})
    assert len(response.context["rows"]) == size


def test_alert_detail_shows_the_occurrence_history(client, customer_admin, alert):
    AlertOccurrenceFactory(alert=alert, message="SIGHTING-ONE")
    AlertOccurrenceFactory(alert=alert, message="SIGHTING-TWO")
    client.force_login(customer_admin)
    response = client.get(reverse("telemetry:alert_detail", args=[alert.pk]))
    assert response.status_code == 200
    assert "SIGHTING-ONE" in response.text and "SIGHTING-TWO" in response.text
    assert 'name="note"' not in response.text  # customer admins do not handle alerts


# --- Acknowledge and resolve ------------------------------------------------------------------------------------


def test_service_desk_acknowledges_with_a_note(client, desk, alert):
    client.force_login(desk)
    detail = client.get(reverse("telemetry:alert_detail", args=[alert.pk]))
    assert 'hx-post="' + reverse("telemetry:alert_acknowledge", args=[alert.pk]) in detail.text

    response = client.post(reverse("telemetry:alert_acknowledge", args=[alert.pk]), {"note": "Toner shipped"})

    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledgement_note) == (
        AlertStatus.ACKNOWLEDGED,
        desk,
        "Toner shipped",
    )


def test_htmx_resolve_returns_the_refreshed_handling_block(client, desk, alert):
    client.force_login(desk)
    response = client.post(
        reverse("telemetry:alert_resolve", args=[alert.pk]), {"note": "Cartridge replaced"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="alert-status"')
    assert "Cartridge replaced" in response.text and "Resolved" in response.text
    assert Alert.objects.get().status == AlertStatus.RESOLVED


def test_htmx_resolve_without_a_note_shows_the_error_and_changes_nothing(client, desk, alert):
    client.force_login(desk)
    response = client.post(reverse("telemetry:alert_resolve", args=[alert.pk]), {"note": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "This field is required." in response.text
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_customer_admin_cannot_acknowledge(client, customer_admin, alert):
    client.force_login(customer_admin)
    assert client.post(reverse("telemetry:alert_acknowledge", args=[alert.pk]), {"note": ""}).status_code == 404
    assert Alert.objects.get().status == AlertStatus.OPEN


def test_handler_of_another_provider_cannot_resolve(client, other_alert):
    from accounts.tests.factories import ProviderFactory

    stranger = member(ProviderFactory(code="p2", name="Second provider"), Role.SERVICE_DESK)
    client.force_login(stranger)
    response = client.post(reverse("telemetry:alert_resolve", args=[other_alert.pk]), {"note": "x"})
    assert response.status_code == 404
    assert Alert.objects.get().status == AlertStatus.OPEN


# --- Rules ------------------------------------------------------------------------------------------------------


def test_rule_list_is_for_provider_admins(client, provider_admin, desk, rule):
    client.force_login(desk)
    assert client.get(reverse("telemetry:alert_rule_list")).status_code == 404
    client.force_login(provider_admin)
    response = client.get(reverse("telemetry:alert_rule_list"))
    assert response.status_code == 200
    assert rule.name in response.text
    assert reverse("telemetry:alert_rule_create") in response.text


def test_provider_admin_creates_a_rule(client, provider_admin, provider, customer):
    client.force_login(provider_admin)
    response = client.post(
        reverse("telemetry:alert_rule_create"),
        {
            "name": "Acme drum low",
            "kind": AlertRuleKind.SUPPLY_BELOW,
            "severity": Severity.ERROR,
            "customer": customer.pk,
            "supply": Supply.DRUM,
            "threshold": "5",
            "code_pattern": "ignored",
            "notify": "on",
        },
    )
    rule = AlertRule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("telemetry:alert_rule_edit", args=[rule.pk])
    assert (rule.provider, rule.customer, rule.supply, rule.threshold, rule.code_pattern, rule.notify) == (
        provider,
        customer,
        Supply.DRUM,
        Decimal("5"),
        "",
        True,
    )


def test_rule_form_shows_the_services_errors(client, provider_admin):
    client.force_login(provider_admin)
    response = client.post(
        reverse("telemetry:alert_rule_create"),
        {"name": "Broken", "kind": AlertRuleKind.SUPPLY_BELOW, "severity": Severity.WARNING, "threshold": "150"},
    )
    assert response.status_code == 200
    assert "A supply threshold is a percentage above 0 and at most 100." in response.text
    assert not AlertRule.objects.exists()


def test_provider_admin_edits_and_deactivates_a_rule(client, provider_admin, rule):
    client.force_login(provider_admin)
    url = reverse("telemetry:alert_rule_edit", args=[rule.pk])
    assert client.get(url).context["form"].initial["threshold"] == rule.threshold

    client.post(
        url,
        {
            "name": "Toner below 5%",
            "kind": rule.kind,
            "severity": Severity.ERROR,
            "supply": rule.supply,
            "threshold": "5",
        },
    )
    client.post(reverse("telemetry:alert_rule_active", args=[rule.pk]), {"active": "0"})

    rule.refresh_from_db()
    assert (rule.name, rule.severity, rule.threshold, rule.notify, rule.is_active) == (
        "Toner below 5%",
        Severity.ERROR,
        Decimal("5"),
        False,
        False,
    )


# --- Dashboard tiles and the asset page's panel -----------------------------------------------------------------


def test_dashboard_shows_open_alerts_by_severity_and_silent_devices(client, provider, customer_admin, asset, alert):
    silent = AlertRuleFactory(provider=provider, kind=AlertRuleKind.SILENT)
    AlertFactory(asset=asset, rule=silent, condition="silent")
    AlertFactory(asset=asset, rule=AlertRuleFactory(provider=provider), status=AlertStatus.RESOLVED)
    client.force_login(customer_admin)

    response = client.get(reverse("portal:dashboard"))

    tile = next(tile for tile in response.context["tiles"] if tile.template_name == "telemetry/_alert_tiles.html")
    assert (tile.context["total"], tile.context["silent"]) == (2, 1)
    assert ("warning", "Warning", 2) in tile.context["by_severity"]
    assert reverse("telemetry:alert_list") + "?status=active&amp;kind=silent" in response.text


def test_asset_page_lists_the_open_alerts_of_the_asset(client, customer_admin, asset, alert, rule):
    AlertFactory(asset=asset, rule=rule, status=AlertStatus.RESOLVED, message="LONG-GONE")
    client.force_login(customer_admin)
    response = client.get(reverse("assets:asset_detail", args=[asset.pk]))
    assert reverse("telemetry:alert_detail", args=[alert.pk]) in response.text
    assert "LONG-GONE" not in response.text
