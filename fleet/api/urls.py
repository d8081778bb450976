"""API v1: one router per app, mounted here, and the OpenAPI schema with its local viewers."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("assets.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("schema/swagger-ui/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-swagger-ui"),
    path("schema/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
