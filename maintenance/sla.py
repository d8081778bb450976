"""Service levels in business hours: due times, SLA state, the breach sweep and its notifications."""
