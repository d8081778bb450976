"""QR labels, per-asset service links and pre-use inspections by forklift operators."""
