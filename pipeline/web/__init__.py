"""The worker's own observability: Prometheus /metrics, /healthz and /readyz on Faust's
web server, agent crash counting, and the pure health judgement behind /healthz."""

from pipeline.web.health import Health, HealthJudge, HealthPolicy, StageCounts

__all__ = ["Health", "HealthJudge", "HealthPolicy", "StageCounts"]
