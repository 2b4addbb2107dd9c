"""Where a worker's rules come from: a rule file, or the seed's thresholds when none is set."""

from __future__ import annotations

from pathlib import Path

from pipeline.alerts.engine import RuleSet
from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.model import Level, Rule
from pipeline.alerts.parse import parse_rules
from schemas.config import TokaConfig
from schemas.config.seed import Thresholds

__all__ = ["WARNING_FOR_SECONDS", "default_rules", "load_rules", "worker_rules"]

#: Warnings fire once the condition has held this long (4 consecutive 10-s windows), so a
#: one-window spike (a process starting) does not page; critical fires on one window.
WARNING_FOR_SECONDS = 30.0


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
    WARNING_FOR_SECONDS, critical on one window."""

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
        ],
        source="monitoring.thresholds",
        default_window=default_window,
    )
