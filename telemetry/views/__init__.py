"""Portal pages of telemetry, one module per area: ingest (collector keys, CSV upload, manual reads),
readings (meter and supply history, invalidation) and alerts (alerts and rules)."""
