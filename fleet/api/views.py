"""The shared base of API viewsets: tenancy through the model's ``visible_to`` and services for writes."""

from rest_framework import viewsets

from fleet.api.permissions import RoleCapabilityPermission
from fleet.tenancy import access_for


class TenantViewSetMixin:
    """Reads rows through ``get_base_queryset()`` (a selector) scoped to the requesting user.

    Subclasses set ``selector``: a callable taking ``user=`` that returns the scoped, prefetched queryset.
    Another tenant's object is therefore simply absent: 404, never 403.
    """

    selector = None
    permission_classes = [RoleCapabilityPermission]
    # Any path segment reaches the view, so a malformed id ("0.5") is the API's JSON 404, not the HTML page.
    lookup_value_regex = "[^/]+"
    write_capabilities: dict = {}  # action name -> accounts.roles.Capability

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return self.queryset
        return type(self).selector(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["access"] = access_for(self.request.user)
        return context


class TenantReadOnlyViewSet(TenantViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """A scoped list and detail."""
