"""API of telemetry: readings."""

urlpatterns: list = []
