"""The worker's Prometheus metrics, read from live state at scrape time.

Stages count into plain ``Counter`` objects (their ProcessingGuards), Faust's monitor
counts consumed records and offsets, the output sensor counts sends and the crash log
counts restarts. Reading them when Prometheus asks keeps the hot path free of metric
locks; the scrape and the stages run on the same event loop, so no value is torn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline.runtime.progress import Progress
from pipeline.web.health import Health, StageCounts
from pipeline.web.sensor import OutputSensor
from pipeline.web.supervision import CrashLog

__all__ = ["WorkerCollector", "fetched_offsets", "stage_counts"]

#: Guard keys with a metric of their own; every other key is a stage event.
_OWN = {"ok", "errors", "late"}


def stage_counts(guards: Iterable[Any]) -> dict[str, Counter[str]]:
    """Every guard's counts, summed per stage name."""
    out: dict[str, Counter[str]] = {}
    for guard in guards:
        out.setdefault(guard.stage, Counter()).update(guard.counts)
    return out


def health_input(stages: dict[str, Counter[str]]) -> dict[str, StageCounts]:
    return {s: StageCounts(ok=c["ok"], errors=c["errors"]) for s, c in stages.items()}


class WorkerCollector(Collector):
    def __init__(
        self,
        app: Any,
        guards: list[Any],
        sensor: OutputSensor,
        crashes: CrashLog,
        health: Callable[[], Health],
        *,
        progress: Progress,
    ) -> None:
        self._app, self._sensor, self._crashes, self._health = app, sensor, crashes, health
        self._guards, self._progress = guards, progress

    def collect(self) -> Iterator[Any]:
        yield from self._stages()
        yield from self._outputs()
        yield from self._agents()
        yield from self._consumer()

    def _stages(self) -> Iterator[Any]:
        stages = stage_counts(self._guards)
        processed = CounterMetricFamily(
            "toka_worker_records_processed",
            "Records (and timer ticks) a stage handled without an unexpected error, "
            "dead-lettered ones included",
            labels=["stage"],
        )
        failed = CounterMetricFamily(
            "toka_worker_records_failed",
            "Records a stage failed on with an unexpected error (logged, skipped)",
            labels=["stage"],
        )
        late = CounterMetricFamily(
            "toka_worker_late_samples",
            "Samples or spans older than the grace period (sent to the dead-letter topic)",
            labels=["stage"],
        )
        events = CounterMetricFamily(
            "toka_worker_stage_events",
            "Other per-stage counts: undecodable records, forecasts, detections, ...",
            labels=["stage", "event"],
        )
        for stage, counts in sorted(stages.items()):
            processed.add_metric([stage], counts["ok"])
            failed.add_metric([stage], counts["errors"])
            late.add_metric([stage], counts["late"])
            for event, n in sorted(counts.items()):
                if event not in _OWN:
                    events.add_metric([stage, event], n)
        stalls = CounterMetricFamily(
            "toka_worker_partition_stalls",
            "Times a partition had records fetched and waiting but none processed for "
            "pipeline.stall_seconds",
            labels=["topic", "partition"],
        )
        for (topic, partition), n in sorted(self._progress.stalls.items()):
            stalls.add_metric([topic, str(partition)], n)
        yield from (processed, failed, late, events, stalls)

    def _outputs(self) -> Iterator[Any]:
        s = self._sensor
        sent = CounterMetricFamily(
            "toka_worker_records_sent", "Records produced, by topic", labels=["topic"]
        )
        for topic, n in sorted(s.sent.items()):
            sent.add_metric([topic], n)
        dead = CounterMetricFamily(
            "toka_worker_dead_letters",
            "Records sent to the dead-letter topic, by source topic and reason",
            labels=["source", "reason"],
        )
        for (source, reason), n in sorted(s.dead_letters.items()):
            dead.add_metric([source, reason], n)
        alerts = CounterMetricFamily(
            "toka_worker_alerts",
            "Alert state changes emitted, by status and severity",
            labels=["status", "severity"],
        )
        for (status, severity), n in sorted(s.alerts.items()):
            alerts.add_metric([status, severity], n)
        rebalances = CounterMetricFamily(
            "toka_worker_rebalances", "Consumer group rebalances this worker took part in"
        )
        rebalances.add_metric([], s.rebalances)
        yield from (sent, dead, alerts, rebalances)

    def _agents(self) -> Iterator[Any]:
        c = self._crashes
        crashes = CounterMetricFamily(
            "toka_worker_agent_crashes",
            "Agent actors that raised and were restarted by the supervisor",
            labels=["agent"],
        )
        cancels = CounterMetricFamily(
            "toka_worker_agent_cancellations",
            "Agent actors cancelled and restarted (rebalances)",
            labels=["agent"],
        )
        for agent in sorted(set(c.supervisors) | set(c.crashes)):
            crashes.add_metric([agent], c.crashes[agent])
            cancels.add_metric([agent], c.cancellations[agent])
        healthy = GaugeMetricFamily(
            "toka_worker_healthy", "1 if /healthz says ok, else 0 (the problems are in /healthz)"
        )
        healthy.add_metric([], 1.0 if self._health().ok else 0.0)
        yield from (crashes, cancels, healthy)

    def _consumer(self) -> Iterator[Any]:
        monitor = self._app.monitor
        consumed = CounterMetricFamily(
            "toka_worker_records_consumed", "Records read from Kafka, by topic", labels=["topic"]
        )
        for topic, n in sorted(monitor.messages_received_by_topic.items()):
            consumed.add_metric([topic], n)
        yield consumed
        lag = GaugeMetricFamily(
            "toka_worker_consumer_lag",
            "Records in the partition past the committed offset (commits wait for windows "
            "to close, so this includes records held in open windows)",
            labels=["topic", "partition"],
        )
        read_lag = GaugeMetricFamily(
            "toka_worker_read_lag",
            "Records in the partition not yet read by this worker",
            labels=["topic", "partition"],
        )
        for tp, end in sorted(_highwaters(self._app).items()):
            committed = monitor.tp_committed_offsets.get(tp)
            read = monitor.tp_read_offsets.get(tp)
            labels = [tp.topic, str(tp.partition)]
            # Unknown until this worker has committed / read the partition once.
            if committed is not None:
                lag.add_metric(labels, max(0, end - committed))
            if read is not None:
                read_lag.add_metric(labels, max(0, end - read - 1))
        yield from (lag, read_lag)


def fetched_offsets(app: Any) -> dict[tuple[str, int], int]:
    """The newest offset Faust's consumer has fetched and handed to the streams, per
    assigned partition (what the runtime's progress is compared with)."""
    try:
        consumer = app.consumer
        read = consumer._read_offset  # Faust's own bookkeeping: no public accessor
        out = {}
        for tp in consumer.assignment():
            offset = read.get(tp)
            if offset is not None:
                out[(tp.topic, tp.partition)] = offset
        return out
    except Exception:  # noqa: BLE001 - no consumer yet or stopping: nothing fetched
        return {}


def _highwaters(app: Any) -> dict[Any, int]:
    """End offsets the consumer has seen for its assigned partitions (none before the
    first fetch, or when the consumer is not running)."""
    try:
        consumer = app.consumer
        out = {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                out[tp] = end
        return out
    except Exception:  # noqa: BLE001 - no consumer yet or stopping: no lag to show
        return {}
