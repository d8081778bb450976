"""API permission from the permission table: reads need access; writes need the action's capability."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from fleet.tenancy import access_for


class RoleCapabilityPermission(BasePermission):
    """Grants reads to any user with access and writes per ``view.write_capabilities[action]``.

    A write on one object is judged after the object was found through the scoped queryset, so a row of
    another tenant answers 404 (it does not exist for the caller), never 403.
    """

    def has_permission(self, request, view) -> bool:
        access = access_for(request.user)
        if access is None:
            return False
        method = request.method.lower()
        if method not in view.http_method_names or not hasattr(view, method):
            return True  # the view has no handler for this method: DRF answers 405, not 403
        if request.method in SAFE_METHODS and view.action not in getattr(view, "write_capabilities", {}):
            return True
        if view.lookup_url_kwarg in view.kwargs or view.lookup_field in view.kwargs:
            return True  # decided in has_object_permission, after the scoped lookup
        return self._may(access, view)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS and view.action not in getattr(view, "write_capabilities", {}):
            return True
        return self._may(access_for(request.user), view)

    @staticmethod
    def _may(access, view) -> bool:
        capability = getattr(view, "write_capabilities", {}).get(view.action)
        return capability is not None and access is not None and access.can(capability)
