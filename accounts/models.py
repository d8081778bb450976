"""Organisations (the provider and its customers), users, memberships with roles, and per-customer settings."""

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.choices import LANGUAGE_CHOICES, TIME_ZONE_CHOICES, OrganisationKind, Role
from fleet.models import AddressModel, TimeStampedModel
from fleet.money import Currency


class UserManager(BaseUserManager):
    """Users log in with their e-mail address."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in with an e-mail address."""

    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        choices=LANGUAGE_CHOICES,
        help_text=_("Empty: the organisation's language."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]

    def __str__(self) -> str:
        return self.get_full_name() or self.email


class OrganisationQuerySet(models.QuerySet):
    def customers(self):
        return self.filter(kind=OrganisationKind.CUSTOMER)

    def visible_to(self, user):
        """The user's own organisation and the customers they may see (DESIGN.md §3)."""
        from fleet.tenancy import organisations_visible_to

        return organisations_visible_to(self, user)


class Organisation(AddressModel, TimeStampedModel):
    """The provider or one of its customers: the unit of tenancy."""

    kind = models.CharField(_("kind"), max_length=16, choices=OrganisationKind.choices)
    provider = models.ForeignKey(
        "self",
        verbose_name=_("provider"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        limit_choices_to={"kind": OrganisationKind.PROVIDER},
    )
    name = models.CharField(_("name"), max_length=200)
    code = models.SlugField(_("code"), max_length=40, unique=True)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGE_CHOICES, default="ja")
    time_zone = models.CharField(_("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Asia/Tokyo")
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.JPY)
    tax_registration_number = models.CharField(
        _("tax registration number"),
        max_length=32,
        blank=True,
        help_text=_("For Japan: the qualified-invoice registration number, T followed by 13 digits."),
    )
    account_managers = models.ManyToManyField(
        "accounts.User",
        verbose_name=_("account managers"),
        blank=True,
        related_name="managed_customers",
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        indexes = [models.Index(fields=["name"], name="accounts_organisation_name")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=OrganisationKind.PROVIDER, provider__isnull=True))
                | (Q(kind=OrganisationKind.CUSTOMER, provider__isnull=False)),
                name="%(app_label)s_%(class)s_customer_has_provider",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=OrganisationKind.values), name="%(app_label)s_%(class)s_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_provider(self) -> bool:
        return self.kind == OrganisationKind.PROVIDER

    def clean(self) -> None:
        from accounts.validators import validate_tax_registration_number

        super().clean()
        if self.tax_registration_number:
            validate_tax_registration_number(self.tax_registration_number, self.country)


class Membership(TimeStampedModel):
    """A user's role in one organisation. A user belongs to exactly one organisation."""

    user = models.OneToOneField(
        "accounts.User", verbose_name=_("user"), on_delete=models.CASCADE, related_name="membership"
    )
    organisation = models.ForeignKey(
        "accounts.Organisation", verbose_name=_("organisation"), on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    # ``sites`` (the sites a customer operator works at) is declared on assets.Site, the later app.

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["organisation__name", "user__email"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="%(app_label)s_%(class)s_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organisation} · {self.get_role_display()}"


class OrganisationSettings(TimeStampedModel):
    """Settings that vary per customer. The provider's row holds the defaults; empty fields inherit them."""

    organisation = models.OneToOneField(
        "accounts.Organisation", verbose_name=_("organisation"), on_delete=models.CASCADE, related_name="settings"
    )
    default_expected_life_months = models.PositiveSmallIntegerField(
        _("default expected life (months)"),
        null=True,
        blank=True,
        help_text=_("Used for assets registered without an expected life."),
    )
    silent_device_hours = models.PositiveSmallIntegerField(
        _("silent device after (hours)"),
        null=True,
        blank=True,
        help_text=_("A device that sends no telemetry for this long is reported silent."),
    )

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")
        ordering = ["organisation__name"]

    def __str__(self) -> str:
        return str(self.organisation)
