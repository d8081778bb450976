"""API: approvals of estimates against the not-to-exceed amount, and repair-versus-replace."""

urlpatterns: list = []
