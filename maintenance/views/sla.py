"""Portal pages: service levels, business calendars and the dispatch board."""

urlpatterns: list = []
