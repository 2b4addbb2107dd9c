"""Aggregates and findings reach a real Prometheus by remote write with the values the
pipeline computed, stamped with the window end, held while the receiver is down."""

from __future__ import annotations

import pytest

from tests.pipeline.sinks.remote_write.rw_pipeline import WINDOW, Fed
from tests.support.prometheus import PROMETHEUS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.peers,
    pytest.mark.skipif(PROMETHEUS is None, reason="apt-get install prometheus"),
]


def _range(fed: Fed, promql: str, times: list[float]) -> dict[float, float]:
    """Values at exactly ``times`` (window ends), by /api/v1/query_range."""
    got = fed.prometheus.query_range(promql, min(times), max(times), step=WINDOW)
    assert len(got) == 1, (promql, got)
    (values,) = got.values()
    return {t: v for t, v in values if t in times}


def test_window_aggregates_arrive_with_the_values_computed(fed: Fed) -> None:
    cpu = sorted((a for a in fed.aggregates
                  if a.name == "system_cpu_percent" and a.host == fed.host),
                 key=lambda a: a.window_end)  # fmt: skip
    ends = [a.window_end for a in cpu]
    sel = f'{{host="{fed.host}", window="2s"}}'
    assert _range(fed, f"system_cpu_percent_mean{sel}", ends) == {a.window_end: a.mean for a in cpu}
    assert _range(fed, f"system_cpu_percent_max{sel}", ends) == {a.window_end: a.max for a in cpu}
    assert _range(fed, f"system_cpu_percent_count{sel}", ends) == {
        a.window_end: a.count for a in cpu
    }

    rx = sorted((a for a in fed.aggregates if a.name == "system_network_receive_bytes_total"
                 and a.rate is not None), key=lambda a: a.window_end)  # fmt: skip
    assert rx, "no counter rate computed"
    assert _range(fed, f"system_network_receive_bytes_rate{sel}",
                  [a.window_end for a in rx]) == {a.window_end: a.rate for a in rx}  # fmt: skip

    calls = sorted((a for a in fed.aggregates if a.name == "toka_span_calls"),
                   key=lambda a: a.window_end)  # fmt: skip
    red = '{service="checkout", operation="GET /cart", window="2s"}'
    assert _range(fed, f"toka_span_calls_sum{red}", [a.window_end for a in calls]) == {
        a.window_end: a.sum for a in calls
    }
    durations = [a for a in fed.aggregates if a.name == "toka_span_duration_seconds"]
    p95 = {a.window_end: a.p95 for a in durations}
    got = _range(fed, 'toka_span_duration_seconds{quantile="0.95", service="checkout"}',
                 list(p95))  # fmt: skip
    assert got == pytest.approx(p95)


def test_findings_arrive_as_series(fed: Fed) -> None:
    regression, spike, leak, capacity = fed.findings
    prom = fed.prometheus

    def at(promql: str, ts: float) -> float:
        (sample,) = prom.query(promql, at=ts)
        return float(sample["value"][1])

    sel = f'{{host="{fed.host}"}}'
    assert at(f"toka_regression_change_percent{sel}", regression.ts) == 50.0
    (r,) = prom.query(f"toka_regression_change_percent{sel}", at=regression.ts)
    assert r["metric"]["metric"] == "toka_span_duration_seconds"
    assert r["metric"]["operation"] == "GET /cart" and r["metric"]["severity"] == "major"
    assert at(f'toka_anomaly_score{{host="{fed.host}", kind="spike"}}', spike.ts) == 8.5
    assert at(f"toka_leak_time_to_exhaustion_seconds{sel}", leak.ts) == 86400.0
    assert at(f"toka_capacity_time_to_critical_seconds{sel}", capacity.ts) == 250 * 86400.0
    assert at(f'toka_capacity_forecast{{host="{fed.host}", horizon_days="90"}}',
              capacity.ts) == 1e11 + 90e9  # fmt: skip


def test_the_exporter_held_everything_while_the_receiver_was_down(fed: Fed) -> None:
    from tests.pipeline.web.helpers import metric_values

    before = fed.exporter_metrics_before_receiver
    assert sum(metric_values(before, "toka_remote_write_retries_total").values()) > 0
    assert not metric_values(before, "toka_remote_write_samples_total")  # nothing sent yet
    after = metric_values(_text(fed.exporter_web), "toka_remote_write_samples_total")
    assert after[(("outcome", "sent"),)] > 0
    assert after.get((("outcome", "rejected"),), 0) == 0
    # every window of the host made it, none was dropped during the outage
    cpu_ends = {a.window_end for a in fed.aggregates
                if a.name == "system_cpu_percent" and a.host == fed.host}  # fmt: skip
    (series,) = fed.prometheus.query(
        f'system_cpu_percent_mean{{host="{fed.host}"}}[1h]', at=max(cpu_ends) + 1
    )
    assert {float(t) for t, _ in series["values"]} == cpu_ends


def _text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def test_findings_page_through_prometheus_rules_to_a_real_alertmanager(fed: Fed) -> None:
    """deploy/prometheus/toka-findings-alerts.yml, evaluated by the Prometheus the findings
    were written to, pages through a real Alertmanager; the pipeline's own threshold alert
    (CPU at 95%, critical) reaches the same Alertmanager through the worker's sink."""
    import json
    import time
    import urllib.request

    wanted = {"TokaRegression", "TokaAnomaly", "TokaMemoryLeakSuspect", "HostCpuHigh"}
    deadline, names, alerts = time.monotonic() + 60, set(), []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{fed.alertmanager}/api/v2/alerts", timeout=5) as resp:
            alerts = json.loads(resp.read())
        names = {a["labels"]["alertname"] for a in alerts if a["labels"].get("host") == fed.host}
        if wanted <= names:
            break
        time.sleep(0.5)
    assert wanted <= names, alerts
    by_name = {a["labels"]["alertname"]: a for a in alerts if a["labels"].get("host") == fed.host}
    regression = by_name["TokaRegression"]
    assert regression["labels"]["metric"] == "toka_span_duration_seconds"
    assert regression["annotations"]["summary"].endswith("regressed 50% (p95)")
    assert by_name["HostCpuHigh"]["labels"]["severity"] == "critical"
    # 250 days to critical and exhaustion in a day (not under it): no page for those
    assert not names & {"TokaCapacityCritical", "TokaCapacityWarning", "TokaMemoryExhaustionSoon"}
