"""API of telemetry: ingest."""

urlpatterns: list = []
