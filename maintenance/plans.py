"""Preventive plans and statutory inspections: due dates, the daily task that opens work orders ahead,
inspection records and their certificates."""
