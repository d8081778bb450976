"""Abstract model bases shared by every app: timestamps and structured postal addresses."""

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

country_code_validator = RegexValidator(r"^[A-Z]{2}$", _("Enter an ISO 3166-1 alpha-2 country code, e.g. JP."))


class TimeStampedModel(models.Model):
    """Adds creation and last-update times."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class AddressModel(models.Model):
    """A structured postal address, as invoices and e-invoices need it."""

    address_line1 = models.CharField(_("address line 1"), max_length=200, blank=True)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    region = models.CharField(_("region / prefecture"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    country = models.CharField(
        _("country"),
        max_length=2,
        default="JP",
        validators=[country_code_validator],
        help_text=_("ISO 3166-1 alpha-2 code."),
    )

    class Meta:
        abstract = True

    @property
    def address_lines(self) -> list[str]:
        """The non-empty lines of the address, in the order a letter would print them."""
        locality = " ".join(part for part in (self.postal_code, self.city, self.region) if part)
        return [line for line in (self.address_line1, self.address_line2, locality, self.country) if line]
