"""API: preventive plans and statutory inspections."""

urlpatterns: list = []
