"""Portal pages of telemetry: readings."""

urlpatterns: list = []
