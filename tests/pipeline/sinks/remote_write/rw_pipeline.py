"""A whole pipeline feeding a real Prometheus by remote write, for the remote-write and the
Grafana-dashboard tests: worker, ``toka remote-write``, Prometheus; realistic data in."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import MetricBatch, Sample, Span, SpanBatch, WindowAggregate, encode, new_id
from schemas.aggregates import read_aggregates
from schemas.analytics import Anomaly, CapacityForecast, ForecastPoint, Regression, SummaryStats
from schemas.config import TokaConfig
from tests.pipeline.sinks.am_support import start_alertmanager
from tests.pipeline.sinks.am_support import stop as stop_alertmanager
from tests.support.kafka import collect, publish, stop_process, toka_process
from tests.support.prometheus import ReceiverPrometheus

__all__ = ["WINDOW", "Fed", "feed_pipeline"]

WINDOW = 2.0
STEPS = 6


@dataclass
class Fed:
    cfg: TokaConfig
    prometheus: ReceiverPrometheus
    host: str
    service: str
    aggregates: list[WindowAggregate]
    findings: list[Regression | Anomaly | CapacityForecast]
    exporter_metrics_before_receiver: str
    exporter_web: str
    logs: dict[str, Path] = field(default_factory=dict)
    alertmanager: str = ""


def _metrics(host: str, ts: float, step: int) -> MetricBatch:
    return MetricBatch(
        id=new_id(), host=host, source="system", ts=ts, interval=WINDOW,
        samples=[
            Sample(name="system_cpu_percent", value=20.0 + 15 * step),  # critical at 95
            Sample(name="system_cpu_core_percent", value=10.0 + step, labels={"cpu": "0"}),
            Sample(name="system_memory_percent", value=40.0 + step),
            Sample(name="system_memory_used_bytes", value=4e9 + 1e8 * step),
            Sample(name="system_memory_total_bytes", value=16e9),
            Sample(name="system_disk_used_bytes", value=1e11 + 1e9 * step,
                   labels={"mountpoint": "/", "device": "sda1"}),
            Sample(name="system_disk_total_bytes", value=5e11,
                   labels={"mountpoint": "/", "device": "sda1"}),
            Sample(name="system_disk_used_percent", value=20.0 + 0.2 * step,
                   labels={"mountpoint": "/", "device": "sda1"}),
            Sample(name="system_network_receive_bytes_total", type="counter",
                   value=1e6 + 5e4 * step, labels={"interface": "eth0"}),
            Sample(name="system_network_transmit_bytes_total", type="counter",
                   value=2e6 + 2e4 * step, labels={"interface": "eth0"}),
        ],
    )  # fmt: skip


def _spans(host: str, service: str, ts: float, step: int) -> SpanBatch:
    spans = []
    for i in range(10):
        end = int((ts + 0.01 * i) * 1e9)
        spans.append(Span(
            trace_id=new_id(), span_id=new_id()[:16], name="GET /cart",
            start_ns=end - int((0.05 + 0.01 * i) * 1e9), end_ns=end, kind="server",
            status="error" if i < step % 3 else "ok",
        ))  # fmt: skip
    return SpanBatch(id=new_id(), host=host, spans=spans, resource={"service.name": service})


def _findings(host: str, now: float) -> list[Regression | Anomaly | CapacityForecast]:
    stats = SummaryStats(n=60, mean=0.1, p50=0.1, p95=0.12)
    slow = SummaryStats(n=5, mean=0.15, p50=0.15, p95=0.18)
    labels = {"service": "checkout", "operation": "GET /cart"}
    return [
        Regression(
            id=new_id(), ts=now - 4, kind="series", subject="s1", field="p95",
            direction="regression", baseline=stats, current=slow, change_percent=50.0,
            p_value=1e-6, effect_size=2.5, method="mann_whitney", severity="major",
            baseline_version="1.0", baseline_id="b1", name="toka_span_duration_seconds",
            host=host, labels=labels,
        ),
        Anomaly(
            id=new_id(), ts=now - 4, series="s2", name="system_cpu_percent", field="mean",
            kind="spike", method="mad", observed=95.0, expected=30.0, lower=10.0, upper=50.0,
            score=8.5, severity="major", host=host, window_end=now - 4,
        ),
        Anomaly(
            id=new_id(), ts=now - 4, series="s3", name="process_resident_memory_bytes",
            field="mean", kind="leak_suspect", method="leak", observed=2e9, expected=1e9,
            lower=0.0, upper=1e9, score=3.0, severity="minor", host=host,
            labels={"process": "java"}, growth_per_hour=5e7, time_to_exhaustion_seconds=86400.0,
        ),
        CapacityForecast(
            id=new_id(), ts=now - 4, series="s4", name="system_disk_used_bytes", as_of=now - 4,
            model="linear", fit_metric="mape", fit_score=0.05, current_value=1e11,
            forecasts=[ForecastPoint(horizon_days=d, value=1e11 + d * 1e9, lower=9e10,
                                     upper=1.2e11 + d * 1e9) for d in (30, 60, 90)],
            growth_pattern="linear", recommendation="plan", history_points=500,
            history_days=10.0, horizon_limit_days=365, host=host,
            labels={"mountpoint": "/", "device": "sda1"}, capacity=5e11,
            warning_threshold=4e11, critical_threshold=4.5e11,
            time_to_warning_seconds=86400.0 * 200, time_to_critical_seconds=86400.0 * 250,
        ),
    ]  # fmt: skip


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _last_sent(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("toka_remote_write_last_sent_timestamp_seconds "):
            return float(line.split()[1])
    return 0.0


def feed_pipeline(broker: EmbeddedBroker, tmp: Path) -> Iterator[Fed]:
    """Start everything, feed it, wait until Prometheus holds it; yield what was sent."""
    prefix = f"rw{new_id()[:6]}."
    host, service = f"h-{new_id()[:6]}", "checkout"
    # Findings page through Prometheus' rules (deploy/prometheus) to a real Alertmanager,
    # where the pipeline's own threshold alerts go too.
    am_port = free_port()
    alertmanager = start_alertmanager(tmp, am_port)
    rules = Path(__file__).resolve().parents[4] / "deploy/prometheus/toka-findings-alerts.yml"
    prom = ReceiverPrometheus(tmp, free_port(), [rules], f"127.0.0.1:{am_port}")
    exporter_port = free_port()
    env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-test-{prefix}",
        "TOKA_PIPELINE__WINDOW_SECONDS": f"[{WINDOW}]",
        "TOKA_PIPELINE__GRACE_SECONDS": "1",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "3",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__SESSION_TIMEOUT_SECONDS": "6",
        "TOKA_PIPELINE__PARTITIONS": "2",
        "TOKA_PIPELINE__DATA_DIR": str(tmp / "data"),
        "TOKA_PIPELINE__OTLP_SPANS_TOPIC": "",
        "TOKA_ANALYTICS__REGRESSIONS__ENABLED": "false",
        "TOKA_ANALYTICS__ANOMALIES__ENABLED": "false",
        "TOKA_ANALYTICS__CAPACITY__ENABLED": "false",
        "TOKA_REMOTE_WRITE__ENABLED": "true",
        "TOKA_REMOTE_WRITE__URL": prom.write_url,
        "TOKA_REMOTE_WRITE__MIN_BACKOFF_SECONDS": "0.2",
        "TOKA_REMOTE_WRITE__MAX_BACKOFF_SECONDS": "1",
        "TOKA_REMOTE_WRITE__WEB_PORT": str(exporter_port),
        "TOKA_PIPELINE__ALERTMANAGER_URLS": f'["http://127.0.0.1:{am_port}"]',
    }
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": 2, "app_id": env["TOKA_PIPELINE__APP_ID"]},
    )
    asyncio.run(ensure_topics(cfg))
    logs = {"worker": tmp / "worker.log", "remote-write": tmp / "remote-write.log"}
    worker = toka_process(["worker", "--loglevel", "info"], env, logs["worker"])
    # The exporter starts before its receiver: it must hold everything until it is up.
    exporter = toka_process(["remote-write"], env, logs["remote-write"])
    try:
        t0 = (time.time() // WINDOW) * WINDOW - STEPS * WINDOW
        bs = broker.bootstrap
        metrics = [(host.encode(), encode(_metrics(host, t0 + WINDOW * i + 0.5, i)))
                   for i in range(STEPS)]  # fmt: skip
        spans = [(service.encode(), encode(_spans(host, service, t0 + WINDOW * i + 0.5, i)))
                 for i in range(STEPS)]  # fmt: skip
        asyncio.run(publish(bs, cfg.kafka.topic("metrics"), metrics))
        asyncio.run(publish(bs, cfg.kafka.topic("spans"), spans))
        findings = _findings(host, time.time())
        for record in findings:
            kind = {"Regression": "regressions", "Anomaly": "anomalies",
                    "CapacityForecast": "capacity"}[type(record).__name__]  # fmt: skip
            asyncio.run(publish(bs, cfg.kafka.topic(kind), [(record.series.encode() if hasattr(
                record, "series") else b"r", encode(record))]))  # fmt: skip

        def enough(records: list[bytes]) -> bool:
            aggs = [a for r in records for a in read_aggregates(r)]

            def count(name: str, **kw: object) -> int:
                return sum(a.name == name and all(getattr(a, k) is not None for k in kw)
                           for a in aggs)  # fmt: skip

            return (
                count("system_cpu_percent") >= STEPS
                and count("toka_span_calls") >= STEPS
                and count("toka_span_duration_seconds", p95=True) >= STEPS
                and count("system_network_receive_bytes_total", rate=True) >= 1
                and count("system_network_transmit_bytes_total", rate=True) >= 1
            )

        records = asyncio.run(collect(bs, cfg.kafka.topic("aggregates"), enough, timeout=90))
        aggregates = [a for r in records for a in read_aggregates(r)]
        time.sleep(2)  # the exporter has read them and is retrying against no receiver
        web = f"http://127.0.0.1:{exporter_port}/metrics"
        before = _get(web)
        prom.start()
        # Everything the tests read is in Prometheus: the exporter took every record read
        # so far (its newest sample is the newest window) and each kind of series is there.
        newest = max(a.window_end for a in aggregates)
        wanted = ["toka_capacity_time_to_critical_seconds", "toka_alert_firing",
                  "toka_regression_change_percent", "toka_anomaly_score",
                  "system_network_receive_bytes_rate", "system_network_transmit_bytes_rate",
                  "toka_span_calls_sum", "toka_span_duration_seconds"]  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            sent = _last_sent(_get(f"http://127.0.0.1:{exporter_port}/metrics"))
            if sent >= newest and all(prom.query(f"{name}[1h]") for name in wanted):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"prometheus lacks some of {wanted} (exporter sent up to {sent})")
        yield Fed(
            cfg,
            prom,
            host,
            service,
            aggregates,
            findings,
            before,
            web,
            logs,
            alertmanager=f"http://127.0.0.1:{am_port}",
        )
    finally:
        codes = {"remote-write": stop_process(exporter), "worker": stop_process(worker)}
        prom.stop()
        stop_alertmanager(alertmanager)
        for name, code in codes.items():
            text = logs[name].read_text(errors="replace")
            assert code == 0, f"{name} exited with {code}:\n{text[-3000:]}"
            assert "Traceback" not in text, text[-3000:]
