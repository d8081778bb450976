"""Portal URLs that belong to no single app: the dashboard and health check."""

from django.urls import path

from fleet import views

app_name = "portal"
urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
]
