"""Where a worker's rules come from: a rule file, or the seed's thresholds when none is set."""

from __future__ import annotations

from pathlib import Path

from pipeline.alerts.engine import RuleSet
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.model import Level, Rule
from pipeline.alerts.parse import parse_rules
from schemas.config import TokaConfig
from schemas.config.seed import Thresholds

__all__ = ["FINDING_RULES", "WARNING_FOR_SECONDS", "default_rules", "load_rules", "worker_rules"]

#: Warnings fire once the condition has held this long (4 consecutive 10-s windows), so a
#: one-window spike (a process starting) does not page; critical fires on one window.
WARNING_FOR_SECONDS = 30.0


#: Finding rules, as in deploy/rules/toka-rules.yaml (which says why these values).
FINDING_RULES = """
rules:
  - name: TokaRegression
    finding: regression
    thresholds: {warning: 20}
    annotations:
      summary: '{{ $labels.name }} on {{ $labels.host }} regressed {{ $value }}%'
  - name: TokaAnomaly
    finding: anomaly
    match: {kind: "=~spike|dip"}
    thresholds: {warning: 6}
    annotations:
      summary: '{{ $labels.kind }} of {{ $labels.name }} on {{ $labels.host }}, score {{ $value }}'
  - name: TokaMemoryLeakSuspect
    finding: anomaly
    match: {kind: leak_suspect}
    op: ">="
    thresholds: {warning: 0}
    clear_after: 6h
    annotations:
      summary: '{{ $labels.name }} on {{ $labels.host }} is a memory leak suspect'
  - name: TokaCapacity
    finding: capacity
    op: "<"
    thresholds: {warning: 30, critical: 7}
    annotations:
      summary: '{{ $labels.name }} on {{ $labels.host }} critical in {{ $value }} days'
"""


def worker_rules(cfg: TokaConfig) -> RuleSet:
    """The rules a worker evaluates: none when monitoring.enabled is false."""
    pc = cfg.pipeline
    if not cfg.monitoring.enabled:
        return RuleSet([], source="monitoring.enabled: false")
    return load_rules(
        pc.rules_file, cfg.monitoring.thresholds, default_window=min(pc.window_seconds)
    )


def load_rules(
    path: str | Path | None, thresholds: Thresholds, default_window: float | None = None
) -> RuleSet:
    """The rules of ``path``, or the built-in threshold rules when ``path`` is None.

    ``default_window``: the window length (s) rules without ``window:`` read; the worker
    passes its shortest window. None: each rule reads the shortest window length it sees.
    """
    if path is None:
        return default_rules(thresholds, default_window)
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RuleFileError(source, [("(file)", f"cannot read: {exc.strerror}")]) from None
    return parse_rules(text, source, default_window)


def default_rules(th: Thresholds, default_window: float | None = None) -> RuleSet:
    """The seed's CPU and memory thresholds on the window mean: a warning once sustained for
    WARNING_FOR_SECONDS, critical on one window; and the finding rules."""

    def rule(name: str, metric: str, what: str, warn: float, crit: float) -> Rule:
        return Rule(
            name=name,
            metric=metric,
            field="mean",
            op=">",
            levels=(
                Level("warning", warn, warn, WARNING_FOR_SECONDS),
                Level("critical", crit, crit),
            ),
            annotations={
                "summary": f'{what} on {{{{ $labels.host }}}} at {{{{ $value | printf "%.1f" }}}}%'
                " (threshold {{ $threshold }}%)",
            },
        )

    findings = parse_rules(FINDING_RULES, "defaults").rules
    return RuleSet(
        [
            rule(
                "HostCpuHigh",
                "system_cpu_percent",
                "CPU",
                th.cpu_warning_percent,
                th.cpu_critical_percent,
            ),
            rule(
                "HostMemoryHigh",
                "system_memory_percent",
                "Memory",
                th.memory_warning_percent,
                th.memory_critical_percent,
            ),
            *findings,
        ],
        source="monitoring.thresholds",
        default_window=default_window,
    )
