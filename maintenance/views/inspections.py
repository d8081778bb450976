"""Portal pages: qR labels, per-asset service links and pre-use inspections."""

urlpatterns: list = []
