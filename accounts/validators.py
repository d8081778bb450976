"""Validators for organisation identifiers."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.jp import cn

JP_REGISTRATION_NUMBER_FORM = re.compile(r"T[0-9]{13}")
INVALID_JP_REGISTRATION_NUMBER = _("A Japanese registration number is T followed by a valid 13-digit corporate number.")


def validate_tax_registration_number(value: str, country: str) -> None:
    """Check a qualified-invoice registration number (Japan: "T" + corporate number with check digit)."""
    if country != "JP":
        return
    # Exactly as printed on invoices: stdnum alone would also accept separators and full-width digits.
    if not JP_REGISTRATION_NUMBER_FORM.fullmatch(value):
        raise ValidationError({"tax_registration_number": INVALID_JP_REGISTRATION_NUMBER})
    try:
        cn.validate(value[1:])
    except StdnumValidationError as error:
        raise ValidationError({"tax_registration_number": INVALID_JP_REGISTRATION_NUMBER}) from error
