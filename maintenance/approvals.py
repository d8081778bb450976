"""Approvals: a work order's estimate against the customer's not-to-exceed amount, and repair-versus-replace."""
