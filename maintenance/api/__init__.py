"""API of maintenance."""
