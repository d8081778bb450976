"""Portal pages: the technician's day and the completion report."""

urlpatterns: list = []
