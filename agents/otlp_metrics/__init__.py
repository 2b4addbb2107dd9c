"""OTLP metrics: applications push them to the agent (``POST /v1/metrics``), and the
pipeline reads the OpenTelemetry Collector's ``otlp_metrics`` topic; both convert here."""
