"""The ingest API (collector keys only, batches, idempotency, errors) and the collector-key API."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.choices import Role
from assets.tests.factories import AssetFactory
from telemetry import ingest, keys
from telemetry.choices import Meter
from telemetry.models import CollectorKey, DiagnosticEvent, IngestRequest, Reading, SupplyLevel

pytestmark = pytest.mark.django_db

INGEST = "/api/v1/telemetry/"
KEYS = "/api/v1/collector-keys/"
T = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def no_alert_rules(monkeypatch):
    """The rules' evaluation is tested on its own; here it only has to be called."""
    monkeypatch.setattr(ingest, "alerts_evaluate_ingest", lambda *, batch: None)


@pytest.fixture
def collector(customer):
    """A collector's API client with a fresh key of ``customer``, and the key."""
    key, plaintext = keys.collector_key_create(customer=customer, name="Print server")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Collector {plaintext}")
    client.key = key
    return client


def post(client, items, **headers):
    return client.post(INGEST, json.dumps(items), content_type="application/json", headers=headers)


def reading(asset, value=1000, at=T, **extra) -> dict:
    return {
        "type": "reading",
        "asset": asset.pk,
        "meter": "total_pages",
        "taken_at": at.isoformat(),
        "value": value,
        **extra,
    }


def test_collector_stores_a_mixed_batch(collector, asset):
    items = [
        reading(asset, value=15234),
        {"type": "supply", "serial": asset.serial_number, "supply": "toner_black", "taken_at": T.isoformat(),
         "percent": 12.5},
        {"type": "event", "manufacturer": asset.manufacturer.name, "serial": asset.serial_number, "code": "SC542",
         "occurred_at": T.isoformat(), "severity": "error", "message": "Fusing unit", "raw": {"status": 3}},
    ]  # fmt: skip

    response = post(collector, items)

    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}
    assert (Reading.objects.count(), SupplyLevel.objects.count(), DiagnosticEvent.objects.count()) == (1, 1, 1)
    assert str(SupplyLevel.objects.get().percent) == "12.50"
    assert CollectorKey.objects.get(pk=collector.key.pk).last_used_at is not None


def test_replayed_batch_stores_nothing(collector, asset):
    items = [reading(asset), reading(asset, at=T + datetime.timedelta(hours=1))]
    post(collector, items)
    response = post(collector, items)
    assert response.json() == {"accepted": 0, "duplicates": 2, "rejected": 0, "errors": []}
    assert Reading.objects.count() == 2


def test_idempotency_key_replay_answers_the_stored_response_and_writes_nothing(collector, asset):
    first = post(collector, [reading(asset), {"type": "reading"}], **{"Idempotency-Key": "poll-2026-03-02T09"})
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first

    replay = post(
        collector, [reading(asset, at=T + datetime.timedelta(hours=1))], **{"Idempotency-Key": "poll-2026-03-02T09"}
    )

    assert replay.status_code == 200
    assert (
        replay.json()
        == first.json()
        == {
            "accepted": 1,
            "duplicates": 0,
            "rejected": 1,
            "errors": [{"index": 1, "reason": ingest.METER_UNKNOWN % {"values": ", ".join(Meter.values)}}],
        }
    )
    assert replay["Idempotent-Replayed"] == "true"
    assert Reading.objects.count() == 1
    assert IngestRequest.objects.get().idempotency_key == "poll-2026-03-02T09"


def test_invalid_items_are_listed_and_the_valid_ones_stored(collector, asset):
    items = [
        reading(asset, value=-1),
        reading(asset, taken_at="2026-03-02T09:00:00"),
        reading(asset, value=5, at=T + datetime.timedelta(hours=2)),
        {"type": "supply", "asset": asset.pk, "supply": "toner_black", "taken_at": T.isoformat(), "percent": 101},
        reading(asset, meter="nonsense"),
        reading(asset, serial="bad\u0000serial"),
    ]

    body = post(collector, items).json()

    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 0, 5)
    assert [error["index"] for error in body["errors"]] == [0, 1, 3, 4, 5]
    assert body["errors"][0]["reason"] == "value cannot be negative."
    assert body["errors"][1]["reason"] == "taken_at has no time zone offset: add one, e.g. +09:00 or Z."
    assert body["errors"][2]["reason"] == "percent cannot be more than 100."
    assert body["errors"][4]["reason"] == "serial contains a NUL character."
    assert Reading.objects.get().value == 5


def test_another_customers_asset_is_an_unknown_asset(collector, asset, other_asset):
    items = [
        reading(other_asset),
        {"type": "reading", "serial": other_asset.serial_number, "meter": "total_pages", "taken_at": T.isoformat(),
         "value": 1},
        reading(asset),
    ]  # fmt: skip

    body = post(collector, items).json()

    assert body["errors"] == [{"index": 0, "reason": "Unknown asset."}, {"index": 1, "reason": "Unknown asset."}]
    assert not Reading.objects.filter(asset=other_asset).exists()


def test_a_serial_shared_by_two_assets_is_ambiguous(collector, customer, site):
    AssetFactory(customer=customer, site=site, serial_number="DUP-1")
    AssetFactory(customer=customer, site=site, serial_number="DUP-1")
    item = {"type": "reading", "serial": "DUP-1", "meter": "total_pages", "taken_at": T.isoformat(), "value": 1}
    body = post(collector, [item]).json()
    assert body["errors"] == [{"index": 0, "reason": str(ingest.ASSET_AMBIGUOUS)}]


def test_revoked_key_gets_401(collector, asset):
    keys.collector_key_revoke(key=collector.key)
    response = post(collector, [reading(asset)])
    assert response.status_code == 401
    assert response.json() == {"detail": str(keys.KEY_REVOKED)}
    assert response["WWW-Authenticate"] == "Collector"
    assert not Reading.objects.exists()


@pytest.mark.parametrize("header", ["Collector nonsense", "Collector abc.def", "Collector ", "Bearer x"])
def test_bad_or_missing_keys_get_401(asset, header):
    response = APIClient().post(INGEST, "[]", content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_without_credentials_the_answer_is_401():
    assert APIClient().post(INGEST, "[]", content_type="application/json").status_code == 401


def test_users_tokens_cannot_ingest(api_client_for, provider_admin, asset):
    response = api_client_for(provider_admin).post(INGEST, [reading(asset)], format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Only a collector key can send telemetry (Authorization: Collector <prefix>.<secret>)."
    }
    assert not Reading.objects.exists()


def test_signed_in_portal_users_cannot_ingest(client, customer_admin, asset):
    client.force_login(customer_admin)
    response = client.post(INGEST, json.dumps([reading(asset)]), content_type="application/json")
    assert response.status_code == 403
    assert not Reading.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", str(ingest.BODY_NOT_JSON)),
        ('{"type": "reading"}', str(ingest.BODY_NOT_LIST)),
        ("[" + ",".join(["{}"] * 10_001) + "]", str(ingest.BODY_TOO_MANY)),
    ],
)
def test_a_body_that_is_no_batch_is_a_400_with_a_clear_message(collector, body, message):
    response = collector.post(INGEST, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [message]}


def test_a_malformed_idempotency_key_is_a_400(collector, asset):
    response = post(collector, [reading(asset)], **{"Idempotency-Key": "x" * 200})
    assert response.status_code == 400
    assert not Reading.objects.exists()


def test_an_empty_batch_is_fine(collector):
    assert post(collector, []).json() == {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": []}


def test_queries_per_request_are_the_same_for_10_and_5000_items(collector, customer, site):
    assets = AssetFactory.create_batch(10, customer=customer, site=site)

    def batch(size, start):
        return [reading(assets[n % 10], value=n, at=T - datetime.timedelta(minutes=start + n)) for n in range(size)]

    counts = []
    for start, size in ((0, 10), (100, 5000)):
        with CaptureQueriesContext(connection) as captured:
            response = post(collector, batch(size, start), **{"Idempotency-Key": f"batch-{size}"})
        assert response.json()["accepted"] == size
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_schema_documents_the_collector_key_scheme(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["securitySchemes"]["collectorKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["collectorKey"]["description"],
    }
    operation = schema["paths"]["/api/v1/telemetry/"]["post"]
    assert operation["security"] == [{"collectorKey": []}]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"Idempotency-Key"}
    assert set(operation["responses"]) >= {"200", "400", "401", "403"}


# Collector keys


def test_customer_admin_lists_only_their_keys(api_client_for, customer, other_customer, customer_admin):
    mine, _ = keys.collector_key_create(customer=customer, name="Mine")
    keys.collector_key_create(customer=other_customer, name="Theirs")
    response = api_client_for(customer_admin).get(KEYS)
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]
    assert "key" not in response.json()["results"][0] and "key_hash" not in response.json()["results"][0]


def test_customer_viewer_sees_no_keys(api_client_for, customer, make_member):
    keys.collector_key_create(customer=customer, name="Mine")
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    assert api_client_for(viewer).get(KEYS).json()["results"] == []


def test_customer_admin_creates_a_key_for_their_organisation_and_sees_it_once(api_client_for, customer_admin, asset):
    client = api_client_for(customer_admin)

    response = client.post(KEYS, {"name": "Tokyo print server"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["customer"] == customer_admin.membership.organisation_id
    assert body["key"].startswith(body["prefix"] + ".")
    detail = client.get(f"{KEYS}{body['id']}/").json()
    assert "key" not in detail
    collector = APIClient()
    collector.credentials(HTTP_AUTHORIZATION=f"Collector {body['key']}")
    assert post(collector, [reading(asset)]).json()["accepted"] == 1


def test_provider_admin_must_name_the_customer(api_client_for, provider_admin, customer):
    client = api_client_for(provider_admin)
    missing = client.post(KEYS, {"name": "Gateway"}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {"customer": ["Choose the customer the key writes for."]}
    assert client.post(KEYS, {"name": "Gateway", "customer": customer.pk}, format="json").status_code == 201


def test_a_key_for_another_customer_is_refused(api_client_for, customer_admin, other_customer):
    response = api_client_for(customer_admin).post(KEYS, {"name": "X", "customer": other_customer.pk}, format="json")
    assert response.status_code == 400
    assert not CollectorKey.objects.exists()


def test_viewers_may_not_create_keys(api_client_for, customer, make_member):
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    assert api_client_for(viewer).post(KEYS, {"name": "X"}, format="json").status_code == 403


def test_revoking_a_key_closes_the_api_to_it(api_client_for, customer_admin, collector, asset):
    response = api_client_for(customer_admin).post(f"{KEYS}{collector.key.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert response.json()["revoked_by"] == str(customer_admin)
    assert post(collector, [reading(asset)]).status_code == 401
    again = api_client_for(customer_admin).post(f"{KEYS}{collector.key.pk}/revoke/")
    assert again.status_code == 400


def test_another_tenants_key_cannot_be_revoked(api_client_for, other_admin, collector):
    response = api_client_for(other_admin).post(f"{KEYS}{collector.key.pk}/revoke/")
    assert response.status_code == 404
    assert CollectorKey.objects.get(pk=collector.key.pk).revoked_at is None


@pytest.mark.parametrize("size", [1, 30])
def test_key_list_query_count_is_constant(
    api_client_for, provider_admin, customer, size, django_assert_max_num_queries
):
    for number in range(size):
        keys.collector_key_create(customer=customer, name=f"Key {number}", by=provider_admin)
    client = api_client_for(provider_admin)
    with django_assert_max_num_queries(4):  # token and user, membership, count, page
        response = client.get(KEYS)
    assert response.json()["count"] == size
