"""An OpenTelemetry SDK ``SpanExporter`` that publishes SpanBatch records straight to Kafka.

Plug it into a ``BatchSpanProcessor``. ``export`` only hands the spans to a background
thread that owns an event loop, the agent's publisher (queue, spool, Kafka) and the span
intake (sampling, limits, redaction), so the application's thread never waits on Kafka.

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider.add_span_processor(BatchSpanProcessor(TokaSpanExporter(load_config(path))))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agents.publish.publisher import Publisher
from agents.publish.spool import SpoolLockedError
from agents.runtime import build_intake, build_publisher, spool_path
from agents.selfmetrics import AgentMetrics
from agents.spans.convert import from_sdk_spans

if TYPE_CHECKING:
    from schemas.config import TokaConfig

__all__ = ["TokaSpanExporter"]

_MAX_SPOOLS = 256


class TokaSpanExporter(SpanExporter):
    def __init__(self, cfg: TokaConfig, metrics: AgentMetrics | None = None) -> None:
        self._cfg = cfg
        self.metrics = metrics or AgentMetrics()
        self._publisher = self._claim_spool()
        self._intake = build_intake(cfg, self._publisher.submit, self.metrics)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="toka-span-exporter", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self._closed = False

    def _claim_spool(self) -> Publisher:
        """The first free ``sdk-N`` spool beside the agent's: every process of a service (and
        every service) gets its own, and a restarted process adopts what a dead one left."""
        base = spool_path(self._cfg)
        for n in range(_MAX_SPOOLS):
            try:
                return build_publisher(self._cfg, self.metrics, spool_dir=base / f"sdk-{n}")
            except SpoolLockedError:
                continue
        raise SpoolLockedError(f"all {_MAX_SPOOLS} span exporter spools under {base} are in use")

    async def _start(self) -> None:
        self._publisher.start()

    def _add(self, spans: Sequence[Any]) -> None:
        self._intake.add(from_sdk_spans(spans))
        self._intake.flush_all()  # the BatchSpanProcessor already batched them

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        self._loop.call_soon_threadsafe(self._add, list(spans))
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if self._closed:
            return True

        async def drained() -> None:
            while self._publisher.pending:
                await asyncio.sleep(0.01)

        fut = asyncio.run_coroutine_threadsafe(drained(), self._loop)
        try:
            fut.result(timeout_millis / 1000)
        except TimeoutError:
            fut.cancel()
            return False
        return True

    def shutdown(self) -> None:
        """Flush within publisher.shutdown_timeout_seconds; the rest stays in the spool."""
        if self._closed:
            return
        self._closed = True
        timeout = self._cfg.agent.publisher.shutdown_timeout_seconds
        fut = asyncio.run_coroutine_threadsafe(self._publisher.close(timeout), self._loop)
        fut.result(timeout + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
