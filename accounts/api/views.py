"""API views of accounts: organisations (read) and token sign-in."""

from drf_spectacular.utils import extend_schema
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


class TokenThrottle(AnonRateThrottle):
    rate = "30/minute"


@extend_schema(tags=["auth"])
class TokenView(ObtainAuthToken):
    """Exchange an e-mail address and password for an API token (failed attempts count towards lockout)."""

    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
