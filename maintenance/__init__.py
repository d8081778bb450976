"""Maintenance: service levels, work orders and their timeline."""
