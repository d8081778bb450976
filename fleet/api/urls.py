"""API v1: one router per app, mounted here, and the OpenAPI schema with its local viewers."""

from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

# The API viewers (vendored Swagger UI and ReDoc) style their pages from script: they alone may use inline
# styles. Scripts stay same-origin only, and nothing is loaded from another host.
docs_csp = csp_override(
    {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF, "data:"],
        "font-src": [CSP.SELF, "data:"],
        "worker-src": [CSP.SELF, "blob:"],
        "object-src": [CSP.NONE],
        "frame-ancestors": [CSP.NONE],
    }
)

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("assets.api.urls")),
    path("", include("telemetry.api.urls")),
    path("", include("maintenance.api.urls")),
    path("", include("contracts.api.urls")),
    path("", include("reports.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "schema/swagger-ui/",
        docs_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-swagger-ui",
    ),
    path("schema/redoc/", docs_csp(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
]
