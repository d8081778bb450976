"""Collector keys: created with the key shown once and stored hashed, revoked, authenticated, scoped to managers."""

import hashlib

import pytest
from django.core.exceptions import ValidationError

from accounts.choices import Role
from telemetry import keys
from telemetry.models import CollectorKey

pytestmark = pytest.mark.django_db


def test_created_key_is_returned_once_and_only_its_hash_is_stored(customer, customer_admin):
    key, plaintext = keys.collector_key_create(customer=customer, name="Print server", by=customer_admin)

    prefix, secret = plaintext.split(".")
    stored = CollectorKey.objects.get(pk=key.pk)
    assert stored.prefix == prefix
    assert len(prefix) == 12
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(CollectorKey.objects.filter(pk=key.pk).values().get())
    assert stored.created_by == customer_admin
    assert stored.customer == customer


def test_two_keys_get_different_prefixes_and_secrets(customer):
    _first, one = keys.collector_key_create(customer=customer, name="A")
    _second, two = keys.collector_key_create(customer=customer, name="B")
    assert one.split(".")[0] != two.split(".")[0]
    assert one.split(".")[1] != two.split(".")[1]


def test_authenticate_finds_the_key_and_its_customer(customer):
    key, plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    found = keys.collector_key_authenticate(credentials=plaintext)
    assert found.pk == key.pk
    assert found.customer == customer


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda text: text.split(".")[0] + ".wrong-secret", keys.KEY_INVALID),
        (lambda text: "000000000000." + text.split(".")[1], keys.KEY_INVALID),
        (lambda text: text.replace(".", ""), keys.KEY_MALFORMED),
        (lambda text: "", keys.KEY_MALFORMED),
        (lambda text: text + "\x00", keys.KEY_MALFORMED),
    ],
)
def test_authenticate_refuses_wrong_keys(customer, mangle, message):
    _key, plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_authenticate(credentials=mangle(plaintext))
    assert raised.value.messages == [str(message)]


def test_revoked_key_no_longer_authenticates(customer, customer_admin):
    key, plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    revoked = keys.collector_key_revoke(key=key, by=customer_admin)
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == customer_admin
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_authenticate(credentials=plaintext)
    assert raised.value.messages == [str(keys.KEY_REVOKED)]


def test_key_of_an_inactive_customer_does_not_authenticate(customer):
    _key, plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    customer.is_active = False
    customer.save()
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_authenticate(credentials=plaintext)
    assert raised.value.messages == [str(keys.CUSTOMER_INACTIVE)]


def test_revoking_twice_is_refused(customer):
    key, _plaintext = keys.collector_key_create(customer=customer, name="Gateway")
    keys.collector_key_revoke(key=key)
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_revoke(key=key)
    assert raised.value.messages == [str(keys.ALREADY_REVOKED)]


def test_customer_admin_cannot_create_a_key_for_another_customer(other_customer, customer_admin):
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_create(customer=other_customer, name="Sneaky", by=customer_admin)
    assert raised.value.message_dict == {"customer": [str(keys.NOT_ALLOWED)]}
    assert not CollectorKey.objects.exists()


def test_customer_admin_cannot_revoke_another_customers_key(other_customer, customer_admin):
    key, _plaintext = keys.collector_key_create(customer=other_customer, name="Theirs")
    with pytest.raises(ValidationError):
        keys.collector_key_revoke(key=key, by=customer_admin)
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.parametrize("role", [Role.CUSTOMER_VIEWER, Role.CUSTOMER_OPERATOR])
def test_customer_users_without_the_capability_cannot_create_keys(customer, make_member, role):
    user = make_member(customer, role)
    with pytest.raises(ValidationError):
        keys.collector_key_create(customer=customer, name="Mine", by=user)


def test_provider_admin_creates_keys_for_any_of_its_customers(customer, other_customer, provider_admin):
    for organisation in (customer, other_customer):
        key, _plaintext = keys.collector_key_create(customer=organisation, name="Gateway", by=provider_admin)
        assert key.customer == organisation


def test_keys_belong_to_customers_not_the_provider(provider, provider_admin):
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_create(customer=provider, name="Provider", by=provider_admin)
    assert raised.value.message_dict == {"customer": [str(keys.NOT_A_CUSTOMER)]}


def test_a_key_needs_a_name(customer):
    with pytest.raises(ValidationError) as raised:
        keys.collector_key_create(customer=customer, name="  ")
    assert raised.value.message_dict == {"name": [str(keys.NAME_REQUIRED)]}


def test_key_list_is_scoped_to_those_who_manage_keys(customer, other_customer, make_member, provider_admin):
    mine, _ = keys.collector_key_create(customer=customer, name="Mine")
    theirs, _ = keys.collector_key_create(customer=other_customer, name="Theirs")
    admin = make_member(customer, Role.CUSTOMER_ADMIN)
    viewer = make_member(customer, Role.CUSTOMER_VIEWER)
    service_desk = make_member(customer.provider, Role.SERVICE_DESK)

    assert set(keys.collector_key_list(user=admin)) == {mine}
    assert set(keys.collector_key_list(user=provider_admin)) == {mine, theirs}
    assert not keys.collector_key_list(user=viewer).exists()
    assert not keys.collector_key_list(user=service_desk).exists()
