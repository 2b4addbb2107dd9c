"""The OpenTelemetry Collector's ``otlp_metrics`` topic into ``toka.metrics``, re-keyed by
resource."""
