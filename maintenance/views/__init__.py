"""Portal pages of maintenance, one module per area; each holds its ``urlpatterns``."""
