"""Console lines: one per complete window of the chosen host and size; alerts readable."""

from __future__ import annotations

from pipeline.console import WindowLines, format_alert
from schemas import ZERO_TIME, Alert, WindowAggregate, new_id


def _agg(host: str, name: str, start: float, size: float, mean: float) -> WindowAggregate:
    return WindowAggregate(
        id=new_id(), series=f'{name}{{host="{host}"}}', name=name, host=host,
        window_start=start, window_end=start + size, count=1, sum=mean, min=mean, max=mean,
        mean=mean, last=mean,
    )  # fmt: skip


def test_a_window_prints_once_a_later_one_arrives_and_only_for_its_host_and_size() -> None:
    lines = WindowLines("web-1", size=10)
    lines.add(_agg("web-1", "system_cpu_percent", 100, 10, 42.0), now=0)
    lines.add(_agg("web-1", "system_memory_percent", 100, 10, 55.5), now=0)
    lines.add(_agg("web-1", "system_cpu_percent", 60, 60, 1.0), now=0)  # other size
    lines.add(_agg("web-2", "system_cpu_percent", 100, 10, 99.0), now=0)  # other host
    assert lines.ready(now=0.5) == []
    lines.add(_agg("web-1", "system_cpu_percent", 110, 10, 1.0), now=0.6)
    (line,) = lines.ready(now=0.6)
    assert "web-1 10s" in line and "cpu 42.0%" in line and "mem 55.5%" in line
    assert "2 series" in line and "99" not in line
    assert len(lines.ready(now=5.0)) == 1  # the last window, after the settle time


def test_alert_line_names_state_severity_rule_and_labels() -> None:
    alert = Alert(id=new_id(), status="firing", labels={
        "alertname": "HostCpuHigh", "severity": "critical", "host": "web-1"},
        annotations={"summary": "CPU high"}, startsAt="2026-01-01T00:00:00Z", endsAt=ZERO_TIME,
        fingerprint="f", rule="HostCpuHigh", value=95.0, threshold=85.0)  # fmt: skip
    line = format_alert(alert)
    assert line.startswith("FIRING")
    for part in ("critical", "HostCpuHigh", "host=web-1", "value=95", "threshold=85", "CPU high"):
        assert part in line
