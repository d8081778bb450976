"""Collector keys: the secrets that let a collector write one customer's telemetry.

A key reads ``<prefix>.<secret>`` and is sent as ``Authorization: Collector <prefix>.<secret>``. The prefix
finds the row; only the SHA-256 of the secret is stored (the secret carries 256 random bits, so a fast hash is
enough), and the whole key is shown once, when it is created. Provider admins manage the keys of every
customer, customer admins those of their own organisation (``Capability.MANAGE_COLLECTOR_KEYS``).

Services (``collector_key_create``, ``collector_key_revoke``), the authentication step
(``collector_key_authenticate``), the selector the page and the API share (``collector_key_list``) and its
FilterSet live here together: the collector-key area of telemetry.
"""

import hashlib
import hmac
import secrets

import django_filters
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.choices import OrganisationKind
from accounts.models import Organisation, User
from accounts.roles import Capability
from fleet.filters import SearchFilterSet
from fleet.tenancy import access_for, visible
from telemetry.models import CollectorKey

AUTH_KEYWORD = "Collector"
PREFIX_HEX_CHARS = 12  # CollectorKey.prefix holds 12 characters: 48 random bits
SECRET_BYTES = 32

NOT_ALLOWED = _("You may not manage collector keys for this customer.")
NOT_A_CUSTOMER = _("Collector keys belong to a customer organisation.")
NAME_REQUIRED = _("Give the key a name, e.g. the collector's host or site.")
ALREADY_REVOKED = _("This key is already revoked.")
KEY_MALFORMED = _("A collector key reads <prefix>.<secret>.")
KEY_INVALID = _("Invalid collector key.")
KEY_REVOKED = _("This collector key was revoked.")
CUSTOMER_INACTIVE = _("The customer of this collector key is inactive.")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _may_manage(user: User, customer: Organisation) -> bool:
    access = access_for(user)
    if access is None or not access.can(Capability.MANAGE_COLLECTOR_KEYS):
        return False
    return Organisation.objects.visible_to(user).customers().filter(pk=customer.pk).exists()


@transaction.atomic
def collector_key_create(*, customer: Organisation, name: str, by: User | None = None) -> tuple[CollectorKey, str]:
    """Create a key for ``customer``; returns the key and its plaintext, which is never shown again."""
    if customer.kind != OrganisationKind.CUSTOMER:
        raise ValidationError({"customer": NOT_A_CUSTOMER})
    if by is not None and not _may_manage(by, customer):
        raise ValidationError({"customer": NOT_ALLOWED})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    while CollectorKey.objects.filter(prefix=prefix).exists():  # 48 random bits: a repeat is all but impossible
        prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    key = CollectorKey(customer=customer, name=name, prefix=prefix, key_hash=_hash(secret), created_by=by)
    key.full_clean(exclude=["created_by"])  # empty for keys made by system callers
    key.save()
    return key, f"{prefix}.{secret}"


@transaction.atomic
def collector_key_revoke(*, key: CollectorKey, by: User | None = None) -> CollectorKey:
    """Revoke a key: from now on it answers 401. A revoked key stays listed, with who revoked it and when."""
    key = CollectorKey.objects.select_for_update().select_related("customer").get(pk=key.pk)
    if by is not None and not _may_manage(by, key.customer):
        raise ValidationError(NOT_ALLOWED)
    if key.revoked_at is not None:
        raise ValidationError(ALREADY_REVOKED)
    key.revoked_at = timezone.now()
    key.revoked_by = by
    key.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    return key


def collector_key_authenticate(*, credentials: str) -> CollectorKey:
    """The active key that ``credentials`` (``<prefix>.<secret>``) names, with its customer (one query).

    Raises ValidationError with KEY_MALFORMED, KEY_INVALID, KEY_REVOKED or CUSTOMER_INACTIVE.
    """
    prefix, dot, secret = (credentials or "").strip().partition(".")
    if not dot or not prefix or not secret or len(prefix) > PREFIX_HEX_CHARS or "\x00" in credentials:
        raise ValidationError(KEY_MALFORMED)
    key = CollectorKey.objects.select_related("customer").filter(prefix=prefix).first()
    # Compare a hash even when no row matched, so that timing does not tell which prefixes exist.
    expected = key.key_hash if key is not None else _hash("")
    if not hmac.compare_digest(expected, _hash(secret)) or key is None:
        raise ValidationError(KEY_INVALID)
    if key.revoked_at is not None:
        raise ValidationError(KEY_REVOKED)
    if not key.customer.is_active:
        raise ValidationError(CUSTOMER_INACTIVE)
    return key


def collector_key_list(*, user: User) -> QuerySet[CollectorKey]:
    """The keys the user may manage (none for roles without MANAGE_COLLECTOR_KEYS), with who made and revoked them."""
    access = access_for(user)
    if access is None or not access.can(Capability.MANAGE_COLLECTOR_KEYS):
        return CollectorKey.objects.none()
    return CollectorKey.objects.visible_to(user).select_related("customer", "created_by", "revoked_by")


_visible_customers = visible(Organisation.objects.customers())


class CollectorKeyFilterSet(SearchFilterSet):
    """Filters of the collector-key list (page and API): search by name or prefix, customer, active or revoked."""

    search_fields = ("name", "prefix")
    provider_only_filters = ("customer",)
    customer = django_filters.ModelChoiceFilter(queryset=_visible_customers, label=_("Customer"))
    revoked = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", exclude=True, label=_("Revoked")
    )

    class Meta:
        model = CollectorKey
        fields = ["customer", "revoked"]
