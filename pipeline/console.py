"""Human-readable lines for the terminal: one per window of a host, one per alert change."""

from __future__ import annotations

import time
from collections.abc import Iterable

from schemas.records import Alert, WindowAggregate

__all__ = ["WindowLines", "format_alert", "format_window"]

_HEADLINE = (
    ("system_cpu_percent", "cpu", "{:.1f}%"),
    ("system_memory_percent", "mem", "{:.1f}%"),
    ("system_swap_percent", "swap", "{:.1f}%"),
    ("system_load1", "load1", "{:.2f}"),
)


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def format_window(aggs: Iterable[WindowAggregate]) -> str:
    """One line summing up a host's aggregates of one window."""
    aggs = list(aggs)
    first = aggs[0]
    by_name = {a.name: a for a in aggs if not a.labels}
    size = first.window_end - first.window_start
    parts = [f"[{_clock(first.window_end)}] {first.host} {size:g}s"]
    for name, label, fmt in _HEADLINE:
        if name in by_name:
            a = by_name[name]
            parts.append(f"{label} {fmt.format(a.mean)} (max {fmt.format(a.max)})")
    parts.append(f"{len(aggs)} series")
    return "  ".join(parts)


def format_alert(alert: Alert) -> str:
    state = "FIRING  " if alert.status == "firing" else "RESOLVED"
    labels = alert.labels
    others = " ".join(
        f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")
    )
    summary = alert.annotations.get("summary", "")
    when = alert.startsAt if alert.status == "firing" else alert.endsAt
    return (
        f"{state} {labels.get('severity', '?'):<8} {labels.get('alertname', alert.rule)}"
        f"  {others}  value={alert.value:g} threshold={alert.threshold:g}"
        f"  {summary}  ({when})"
    ).rstrip()


class WindowLines:
    """Collects aggregates of one host and yields a line per window once it is complete.

    A window is complete when a later window of the host arrives or ``settle`` seconds
    have passed since its last aggregate (aggregates of one window arrive together).
    """

    def __init__(self, host: str | None, size: float | None = None, settle: float = 1.0) -> None:
        self.host = host
        self.size = size  # only windows of this length (None: all)
        self.settle = settle
        self._open: dict[tuple[str, float, float], list[WindowAggregate]] = {}
        self._touched: dict[tuple[str, float, float], float] = {}

    def add(self, agg: WindowAggregate, now: float) -> None:
        if self.host is not None and agg.host != self.host:
            return
        if self.size is not None and abs(agg.window_end - agg.window_start - self.size) > 1e-6:
            return
        key = (agg.host, agg.window_start, agg.window_end)
        self._open.setdefault(key, []).append(agg)
        self._touched[key] = now

    def ready(self, now: float) -> list[str]:
        latest: dict[str, float] = {}
        for host, _, end in self._open:
            latest[host] = max(latest.get(host, end), end)
        done = [
            k for k in self._open
            if k[2] < latest[k[0]] or now - self._touched[k] >= self.settle
        ]  # fmt: skip
        lines = []
        for key in sorted(done, key=lambda k: k[2]):
            lines.append(format_window(self._open.pop(key)))
            del self._touched[key]
        return lines
