"""API routes of telemetry: the ingest endpoint, readings and alerts."""

from telemetry.api import alerts, ingest, readings

urlpatterns = [*ingest.urlpatterns, *readings.urlpatterns, *alerts.urlpatterns]
