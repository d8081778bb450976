"""API routes of accounts."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api import views

router = SimpleRouter()
router.register("organisations", views.OrganisationViewSet, basename="organisation")

urlpatterns = [path("auth/token/", views.TokenView.as_view(), name="api-token"), *router.urls]
