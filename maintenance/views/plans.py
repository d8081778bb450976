"""Portal pages: preventive plans and statutory inspections."""

urlpatterns: list = []
