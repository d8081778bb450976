"""Portal pages of telemetry: ingest."""

urlpatterns: list = []
