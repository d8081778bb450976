"""Root URL configuration: the portal, the API v1 and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("fleet.portal_urls")),
    path("accounts/", include("accounts.urls")),
    path("assets/", include("assets.urls")),
    path("telemetry/", include("telemetry.urls")),
    path("maintenance/", include("maintenance.urls")),
    path("contracts/", include("contracts.urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include("fleet.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
