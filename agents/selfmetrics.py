"""The agent's own metrics, in a registry it owns (no process-wide default registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

__all__ = ["AgentMetrics"]


class AgentMetrics:
    """Counters every component updates; served on /metrics, read directly by tests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        # The agent's own CPU seconds, RSS and open fds: its overhead, visible on every host.
        ProcessCollector(namespace="toka_agent", registry=r)
        self.collected = Counter(
            "toka_agent_records_collected", "Records built by sources", ["source"], registry=r
        )
        self.sent = Counter(
            "toka_agent_records_sent", "Records acked by Kafka", ["topic"], registry=r
        )
        self.spooled = Counter(
            "toka_agent_records_spooled", "Records written to the spool", registry=r
        )
        self.replayed = Counter(
            "toka_agent_records_replayed", "Spooled records sent after recovery", registry=r
        )
        self.dropped = Counter(
            "toka_agent_records_dropped", "Records lost, by reason", ["reason"], registry=r
        )
        self.samples_dropped = Counter(
            "toka_agent_samples_dropped", "Samples cut by limits", ["source", "reason"], registry=r
        )
        self.spans_received = Counter("toka_agent_spans_received", "Spans in", registry=r)
        self.spans_sampled_out = Counter(
            "toka_agent_spans_sampled_out", "Spans dropped by head sampling", registry=r
        )
        self.spans_dropped = Counter(
            "toka_agent_spans_dropped", "Spans dropped by limits", ["reason"], registry=r
        )
        self.requests_rejected = Counter(
            "toka_agent_receiver_rejected", "OTLP requests refused", ["reason"], registry=r
        )
        self.http_refused = Counter(
            "toka_agent_http_refused",
            "HTTP requests or connections refused by the endpoint guard",
            ["endpoint", "reason"],
            registry=r,
        )
        self.source_errors = Counter(
            "toka_agent_source_errors", "Collections that failed", ["source"], registry=r
        )
        self.publisher_errors = Counter(
            "toka_agent_publisher_errors", "Unexpected publisher errors (retried)", registry=r
        )
        self.spool_corrupt = Counter(
            "toka_agent_spool_corrupt_regions", "Corrupt spool regions skipped", registry=r
        )
        self.send_latency = Histogram(
            "toka_agent_send_latency_seconds",
            "Kafka send latency per batch of records",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.collect_seconds = Histogram(
            "toka_agent_collect_seconds",
            "Time one collection of a source took",
            ["source"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.last_collect = Gauge(
            "toka_agent_last_collect_timestamp_seconds",
            "When a source last collected successfully (alert on staleness)",
            ["source"],
            registry=r,
        )
        self.queue_depth = Gauge("toka_agent_queue_depth", "Records in memory", registry=r)
        self.spool_bytes = Gauge("toka_agent_spool_bytes", "Bytes in the spool", registry=r)
        self.spool_records = Gauge("toka_agent_spool_records", "Records in the spool", registry=r)
        self.broker_up = Gauge("toka_agent_broker_up", "1 if the last send succeeded", registry=r)
        self.profiling_commands = Counter(
            "toka_agent_profiling_commands",
            "Profiling commands for this host, by outcome (accepted, stopping, refused_<why>,"
            " failed, undecodable)",
            ["outcome"],
            registry=r,
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's value (0 when absent): ``value("toka_agent_records_sent_total")``."""
        return self.registry.get_sample_value(name, labels or None) or 0.0
