"""API of telemetry: alerts."""

urlpatterns: list = []
