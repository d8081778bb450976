"""Portal pages of telemetry: alerts."""

urlpatterns: list = []
