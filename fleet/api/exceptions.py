"""The API's exception handler: business errors become 400 responses with field messages."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def validation_error_detail(error: DjangoValidationError) -> dict | list:
    """The field messages of a Django ValidationError, with non-field errors under "non_field_errors"."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def exception_handler(exc, context):
    """Turn Django's ValidationError, raised by services, into DRF's 400 before the default handling."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=validation_error_detail(exc))
    return drf_exception_handler(exc, context)
