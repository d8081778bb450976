"""Portal URLs of telemetry."""

from telemetry.views import alerts, ingest, readings

app_name = "telemetry"
urlpatterns = [*ingest.urlpatterns, *readings.urlpatterns, *alerts.urlpatterns]
