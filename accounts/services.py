"""Business operations on organisations, users and memberships."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.choices import ROLES_BY_KIND, OrganisationKind, Role
from accounts.models import Membership, Organisation, OrganisationSettings, User
from accounts.roles import Capability
from fleet.tenancy import access_for, forget_access

ROLE_NOT_FOR_ORGANISATION = _("This role does not exist in this kind of organisation.")
EMAIL_TAKEN = _("A user with this e-mail address already exists.")
NOT_ALLOWED_TO_MANAGE_USERS = _("You may not manage the users of this organisation.")
CANNOT_DEACTIVATE_SELF = _("You cannot deactivate your own account.")
PROVIDER_REQUIRED = _("A customer needs a provider organisation.")


def _check_may_manage_users(*, by: User, organisation: Organisation) -> None:
    access = access_for(by)
    allowed = (
        access is not None
        and access.can(Capability.MANAGE_USERS)
        and (
            organisation.pk == access.organisation_id
            or (access.is_provider_staff and organisation.provider_id == access.organisation_id)
        )
    )
    if not allowed:
        raise ValidationError(NOT_ALLOWED_TO_MANAGE_USERS)


@transaction.atomic
def organisation_create(
    *,
    kind: str,
    name: str,
    code: str,
    provider: Organisation | None = None,
    **fields,
) -> Organisation:
    """Create a provider or a customer organisation with its (empty) settings row."""
    if kind == OrganisationKind.CUSTOMER and provider is None:
        raise ValidationError({"provider": PROVIDER_REQUIRED})
    organisation = Organisation(kind=kind, name=name, code=code, provider=provider, **fields)
    organisation.full_clean()
    organisation.save()
    OrganisationSettings.objects.create(organisation=organisation)
    return organisation


@transaction.atomic
def user_create(
    *,
    organisation: Organisation,
    email: str,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    by: User | None = None,
    site_ids: list[int] | None = None,
) -> User:
    """Create a user with a membership in ``organisation``. ``by`` (when given) must be allowed to do it."""
    if by is not None:
        _check_may_manage_users(by=by, organisation=organisation)
    if role not in ROLES_BY_KIND[OrganisationKind(organisation.kind)]:
        raise ValidationError({"role": ROLE_NOT_FOR_ORGANISATION})
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": EMAIL_TAKEN})
    user = User(email=email, first_name=first_name, last_name=last_name, language=language)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise ValidationError({"password": error.messages}) from error
        user.set_password(password)
    else:
        user.set_unusable_password()  # the person chooses one through the password-reset e-mail
    user.full_clean(exclude=["password"])
    user.save()
    membership = Membership.objects.create(user=user, organisation=organisation, role=role)
    if site_ids:
        membership.sites.set(organisation.sites.filter(pk__in=site_ids))
    return user


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, by: User) -> Membership:
    """Give a member another role of the same organisation."""
    _check_may_manage_users(by=by, organisation=membership.organisation)
    if role not in ROLES_BY_KIND[OrganisationKind(membership.organisation.kind)]:
        raise ValidationError({"role": ROLE_NOT_FOR_ORGANISATION})
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    forget_access(membership.user)
    return membership


@transaction.atomic
def user_set_active(*, user: User, active: bool, by: User) -> User:
    """Deactivate (or reactivate) a user of an organisation the caller manages."""
    _check_may_manage_users(by=by, organisation=user.membership.organisation)
    if user.pk == by.pk and not active:
        raise ValidationError(CANNOT_DEACTIVATE_SELF)
    user.is_active = active
    user.save(update_fields=["is_active"])
    return user


def role_is_customer(role: str) -> bool:
    return Role(role) in ROLES_BY_KIND[OrganisationKind.CUSTOMER]
