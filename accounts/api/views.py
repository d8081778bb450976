"""API views of accounts: organisations (read) and token sign-in."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.throttling import AnonRateThrottle

from accounts import selectors
from accounts.api.serializers import OrganisationSerializer
from accounts.filters import OrganisationFilterSet
from accounts.models import Organisation
from fleet.api.views import TenantReadOnlyViewSet


class OrganisationViewSet(TenantReadOnlyViewSet):
    """The user's organisation and the customers they may see."""

    queryset = Organisation.objects.none()
    selector = staticmethod(selectors.organisation_list)
    serializer_class = OrganisationSerializer
    filterset_class = OrganisationFilterSet
    ordering_fields = ["name", "code", "kind", "site_count", "asset_count"]
    ordering = ["name"]


SIGN_IN_LOCKED_OUT = _("Too many failed sign-in attempts. Try again in an hour, or reset your password.")


class SignInLockedOut(exceptions.APIException):
    """The API's answer to a locked-out sign-in: 429 as JSON, like the portal's lockout page."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = SIGN_IN_LOCKED_OUT
    default_code = "locked_out"


class EmailTokenSerializer(AuthTokenSerializer):
    """The e-mail address as sign-in name, compared the way it is stored (lower case)."""

    def validate(self, attrs):
        attrs["username"] = attrs.get("username", "").lower()
        return super().validate(attrs)


class TokenThrottle(AnonRateThrottle):
    rate = "30/minute"


@extend_schema(tags=["auth"])
class TokenView(ObtainAuthToken):
    """Exchange an e-mail address and password for an API token (failed attempts count towards lockout)."""

    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    serializer_class = EmailTokenSerializer

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            # django-axes flags the request it was given (DRF's request here), not the one its middleware sees.
            if getattr(request, "axes_locked_out", False):
                raise SignInLockedOut from None
            raise
