"""Wiring: config -> sources, publisher, HTTP endpoints; one task per source.

A source that fails is counted and retried next interval; a loop that dies anyway shows
up in /healthz, so the agent never keeps running while silently collecting nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.batch import metric_batch, metric_records
from agents.limits import cap_samples
from agents.publish.kafka import KafkaSink, producer_options
from agents.publish.publisher import OutRecord, Publisher
from agents.publish.spool import Spool
from agents.ratelog import RateLimitedLog
from agents.redact import Redactor
from agents.selfmetrics import AgentMetrics
from agents.sources.base import Source, SourceRegistry
from agents.spans.intake import SpanIntake

if TYPE_CHECKING:
    from agents.endpoint.policy import EndpointPolicy
    from schemas.config import TokaConfig
    from schemas.config.endpoint import EndpointSecurity
    from schemas.records import Sample

__all__ = ["AgentRuntime", "build_intake", "build_publisher", "build_sources", "spool_path"]

log = logging.getLogger("toka.agent")

_SPOOL_MARGIN_SECONDS = 2.0  # of the stop budget, kept for spooling and closing the producer


def aligned_delay(now: float, interval: float) -> float:
    """Seconds until the next collection slot: ``lead`` before a multiple of ``interval``."""
    lead = min(0.5, interval * 0.05)
    slot = (math.floor((now + lead) / interval) + 1) * interval - lead
    return slot - now


def source_interval(cfg: TokaConfig, block: Any) -> float:
    """A source's own ``interval_seconds`` if set; else ``agent.interval_seconds`` if that is
    set (one knob for all sources); else the source's default."""
    if "interval_seconds" not in block.model_fields_set and (
        "interval_seconds" in cfg.agent.model_fields_set
    ):
        return float(cfg.agent.interval_seconds)
    return float(block.interval_seconds)


def build_sources(cfg: TokaConfig) -> SourceRegistry:
    reg = SourceRegistry()
    if not cfg.performance.metrics_enabled:
        return reg
    s = cfg.agent.sources
    if s.system.enabled:
        from agents.sources.system import SystemSource

        reg.register(
            SystemSource(
                interval=source_interval(cfg, s.system),
                per_core=s.system.per_core,
                top_processes=s.system.top_processes,
                cmdline_max_chars=s.system.cmdline_max_chars,
                exclude_fstypes=s.system.exclude_fstypes,
            )
        )
    if s.prometheus.enabled and s.prometheus.targets:
        from agents.sources.prometheus import PrometheusSource, ScrapeTarget

        targets = [
            ScrapeTarget(
                str(t.url), t.job or "prometheus", dict(t.labels), t.honor_labels,
                t.auth.authorization(f"agent.sources.prometheus.targets[{i}].auth"),
            )
            for i, t in enumerate(s.prometheus.targets)
        ]  # fmt: skip
        reg.register(
            PrometheusSource(
                targets,
                interval=source_interval(cfg, s.prometheus),
                timeout=s.prometheus.timeout_seconds,
            )
        )
    return reg


def spool_path(cfg: TokaConfig) -> Path:
    """``agent.publisher.spool_dir`` as set; by default one directory per Kafka cluster and
    topic prefix under it, so agents of different setups on one host never share a spool."""
    if cfg.agent.publisher.spool_dir is not None:
        return cfg.agent.publisher.spool_dir
    if state := os.environ.get("STATE_DIRECTORY"):  # systemd's StateDirectory=
        base = Path(state) / "spool"
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = Path(xdg) / "toka" / "spool"
    key = f"{cfg.kafka.bootstrap_servers}|{cfg.kafka.topic_prefix}".encode()
    return base / hashlib.sha256(key).hexdigest()[:12]


def build_publisher(
    cfg: TokaConfig, metrics: AgentMetrics, *, spool_dir: Path | None = None
) -> Publisher:
    """Raises SpoolLockedError when another process holds the spool directory."""
    p = cfg.agent.publisher
    options = producer_options(
        cfg.kafka.client_options(),
        compression=p.compression,
        request_timeout_s=p.request_timeout_seconds,
        linger_ms=p.linger_ms,
        max_record_bytes=p.max_record_bytes,
        retry_backoff_s=p.retry_backoff_seconds,
    )
    spool = None
    if p.spool_enabled:
        spool = Spool(
            spool_dir or spool_path(cfg),
            p.spool_max_bytes,
            segment_bytes=p.spool_segment_bytes,
            drop_policy=p.drop_policy,
            fsync=p.fsync,
            on_corrupt=lambda _path, _off: metrics.spool_corrupt.inc(),
        )
    return Publisher(
        KafkaSink(options, timeout_s=p.request_timeout_seconds),
        metrics,
        spool=spool,
        queue_size=p.queue_size,
        max_record_bytes=p.max_record_bytes,
        backoff_s=p.retry_backoff_seconds,
        max_backoff_s=p.max_backoff_seconds,
    )


def build_intake(
    cfg: TokaConfig, emit: Callable[[OutRecord], None], metrics: AgentMetrics
) -> SpanIntake:
    """Sampling (performance.tracing_sample_rate), limits and redaction for spans."""
    from agents.limits import TokenBucket
    from agents.spans.sampling import TraceSampler

    otlp = cfg.agent.sources.otlp
    return SpanIntake(
        host=cfg.agent.host,
        topic=cfg.kafka.topic("spans"),
        emit=emit,
        metrics=metrics,
        sampler=TraceSampler(cfg.performance.tracing_sample_rate),
        limiter=TokenBucket(cfg.agent.limits.max_spans_per_second),
        redactor=Redactor.from_config(cfg.agent.redaction),
        max_spans=otlp.batch_max_spans,
        max_age=otlp.batch_max_age_seconds,
        max_record_bytes=cfg.agent.publisher.max_record_bytes,
    )


class AgentRuntime:
    def __init__(
        self,
        cfg: TokaConfig,
        *,
        metrics: AgentMetrics | None = None,
        sources: SourceRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics or AgentMetrics()
        self.sources = sources if sources is not None else build_sources(cfg)
        self.publisher = build_publisher(cfg, self.metrics)
        self._clock = clock
        self._topic = cfg.kafka.topic("metrics")
        self._resource = {"service": "toka-agent", "env": cfg.agent.env}
        self.redactor = Redactor.from_config(cfg.agent.redaction)
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._servers: list[Any] = []
        self.http_port: int | None = None
        self.otlp_port: int | None = None
        self.intake: SpanIntake | None = None
        self.failures: list[str] = []  # components that could not start (e.g. port in use)
        self.profiling: Any = None  # agents.profiling.sessions.SessionManager, once listening
        self.profiling_listener: Any = None
        self._log = RateLimitedLog(log)

    # -- collection -------------------------------------------------------------------------

    async def collect(self, source: Source) -> bool:
        """One collection of one source, published as one MetricBatch. Never raises."""
        t0 = time.perf_counter()
        try:
            samples = self.prepare(source.name, await source.collect())
            batch = metric_batch(
                self.cfg.agent.host, source.name, samples, self._clock(), self._resource,
                interval=source.interval,
            )  # fmt: skip
            records = metric_records(self._topic, batch, self.cfg.agent.publisher.max_record_bytes)
        except Exception as exc:  # noqa: BLE001 - a broken source must not stop the others
            self.metrics.source_errors.labels(source.name).inc()
            self._log.log(logging.ERROR, f"src:{source.name}", "source %s: %r", source.name, exc)
            return False
        self.metrics.collect_seconds.labels(source.name).observe(time.perf_counter() - t0)
        self.metrics.last_collect.labels(source.name).set(self._clock())
        for rec in records:
            self.publisher.submit(rec)
        self.metrics.collected.labels(source.name).inc(len(records))
        return True

    def prepare(self, source: str, samples: list[Sample]) -> list[Sample]:
        """Redact, then cap: what leaves the host is clean and bounded."""
        if self.redactor is not None:
            samples = self.redactor.samples(samples)
        lim = self.cfg.agent.limits
        capped = cap_samples(samples, lim.max_samples_per_collection, lim.max_series_per_collection)
        if capped.over_samples:
            self.metrics.samples_dropped.labels(source, "max_samples").inc(capped.over_samples)
        if capped.over_series:
            self.metrics.samples_dropped.labels(source, "max_series").inc(capped.over_series)
        return capped.samples

    async def _loop(self, source: Source) -> None:
        if self.cfg.agent.align_collections:
            await self._aligned_loop(source)
            return
        # Fixed-rate schedule on the monotonic clock: a slow collection does not drift it.
        next_at = time.monotonic()
        while True:
            await self.collect(source)
            next_at += source.interval
            now = time.monotonic()
            if next_at < now:  # fell behind (suspend, overload): skip, do not burst
                next_at = now + source.interval
            await asyncio.sleep(next_at - now)

    async def _aligned_loop(self, source: Source) -> None:
        # Collect just before each multiple of the interval on the wall clock (after a first
        # collection at once). A sample stamped at the end of its window, with the promise of
        # the next one an interval later, lets the pipeline close that window the moment the
        # record arrives; every source of the host keeps the same phase, so none holds the
        # others' windows open.
        while True:
            await self.collect(source)
            await asyncio.sleep(aligned_delay(time.time(), source.interval))

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.publisher.start()

    async def start_servers(self) -> None:
        """The HTTP endpoints. A port in use is logged and shown in /healthz; collection and
        publishing carry on without them rather than crash-looping."""
        http = self.cfg.agent.http
        if http.enabled:
            from agents.http import MetricsServer

            policy = self._policy("http", http.security, http.host, 64 * 1024)
            server = MetricsServer(self.metrics.registry, self.health, http.host, http.port, policy)
            if await self._start_server("http", server):
                self.http_port = server.port
        otlp, perf = self.cfg.agent.sources.otlp, self.cfg.performance
        if otlp.enabled and (perf.tracing_enabled or perf.metrics_enabled):
            from agents.spans.receiver import OtlpReceiver

            route = None
            if perf.tracing_enabled:  # POST /v1/traces
                self.intake = build_intake(self.cfg, self.publisher.submit, self.metrics)
            if perf.metrics_enabled:  # POST /v1/metrics
                from agents.otlp_metrics.route import MetricsRoute

                route = MetricsRoute(self.publish_pushed)
            policy = self._policy("otlp", otlp.security, otlp.host, otlp.max_body_bytes)
            receiver = OtlpReceiver(
                self.metrics, policy, otlp.host, otlp.port, traces=self.intake,
                pushed_metrics=route, saturated=lambda: self.publisher.saturated,
            )  # fmt: skip
            if await self._start_server("otlp", receiver):
                self.otlp_port = self._servers[-1].port
                if self.intake is not None:
                    every = otlp.batch_max_age_seconds / 2
                    self._loops["otlp-flush"] = asyncio.create_task(self._flush_spans(every))

    def publish_pushed(self, group: tuple[dict[str, str], list[Sample]]) -> None:
        """Metrics an application pushed (OTLP): one MetricBatch of this host per resource,
        through the same redaction and limits as collected ones. Never raises."""
        resource, samples = group
        try:
            samples = self.prepare("otlp_metrics", samples)
            batch = metric_batch(self.cfg.agent.host, "otlp_metrics", samples, self._clock(),
                                 resource)  # fmt: skip
            records = metric_records(self._topic, batch, self.cfg.agent.publisher.max_record_bytes)
        except Exception as exc:  # noqa: BLE001 - a bad push must not stop the receiver
            self.metrics.source_errors.labels("otlp_metrics").inc()
            self._log.log(logging.ERROR, "src:otlp_metrics", "pushed metrics: %r", exc)
            return
        for rec in records:
            self.publisher.submit(rec)
        self.metrics.collected.labels("otlp_metrics").inc(len(records))

    def _policy(
        self, name: str, security: EndpointSecurity, host: str, max_body: int
    ) -> EndpointPolicy:
        from agents.endpoint.policy import EndpointPolicy

        refused = self.metrics.http_refused
        return EndpointPolicy(
            security, name=f"agent.{name}", host=host, max_body_bytes=max_body,
            on_refuse=lambda reason: refused.labels(name, reason).inc(),
        )  # fmt: skip

    async def _flush_spans(self, every: float) -> None:
        assert self.intake is not None
        while True:
            await asyncio.sleep(every)
            self.intake.flush_due()

    async def _start_server(self, name: str, server: Any) -> bool:
        try:
            await server.start()
        except OSError as exc:
            self.failures.append(name)
            log.error("toka agent: %s endpoint not started on %s:%s: %s",
                      name, server.host, server.port, exc.strerror or exc)  # fmt: skip
            return False
        self._servers.append(server)
        return True

    def start_profiling(self) -> None:
        """Listen for profiling commands (loaded here: an agent run with --once never does)."""
        from agents.profiling.service import build_profiling

        self.profiling, self.profiling_listener = build_profiling(
            self.cfg, self.publisher.submit, self.metrics, self.redactor
        )
        self._loops["profiling"] = asyncio.create_task(
            self.profiling_listener.run(), name="profiling-commands"
        )

    def start_loops(self) -> None:
        for src in self.sources:
            self._loops[src.name] = asyncio.create_task(self._loop(src), name=f"src-{src.name}")

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        await self.start_servers()
        self.start_profiling()
        self.start_loops()
        log.info("toka agent: collecting %s", ", ".join(self.sources.names()) or "nothing")
        await stop.wait()
        await self.close()

    async def run_once(self) -> int:
        """Collect every source once, publish, flush. Exit code 0 only if all was sent."""
        await self.start()
        ok = all([await self.collect(src) for src in self.sources])
        await self.close()
        sent = self.metrics.value("toka_agent_records_sent_total", topic=self._topic)
        return 0 if ok and sent >= len(self.sources) else 1

    def health(self) -> dict[str, object]:
        dead = [n for n, t in self._loops.items() if t.done()]
        return {
            "status": "ok" if self.publisher.alive and not dead else "failing",
            "publisher_alive": self.publisher.alive,
            "dead_sources": dead,
            "not_started": self.failures,
            "broker_up": bool(self.metrics.value("toka_agent_broker_up")),
            "pending_records": self.publisher.pending,
        }

    async def close(self) -> None:
        """Stop in order, within ``publisher.shutdown_timeout_seconds`` whatever clients do:
        stop accepting (listeners closed, open requests get a short grace), stop collecting,
        flush what was received to Kafka or the spool, then stop."""
        budget = self.cfg.agent.publisher.shutdown_timeout_seconds
        deadline = time.monotonic() + budget
        await asyncio.gather(*(s.stop() for s in self._servers), return_exceptions=True)
        if self.profiling is not None:  # sessions end first, so their last records go out
            await self.profiling.close()
        for t in self._loops.values():
            t.cancel()
        await asyncio.gather(*self._loops.values(), return_exceptions=True)
        for src in self.sources:
            if close := getattr(src, "close", None):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(close(), max(0.1, deadline - time.monotonic()))
        if self.intake is not None:
            self.intake.flush_all()
        # What is left of the budget, less a margin to spool what is still in memory.
        flush = max(0.0, deadline - time.monotonic() - _SPOOL_MARGIN_SECONDS)
        await self.publisher.close(flush)
