"""The configurable page: ``dashboard.widgets`` as the UI draws them.

The specification names metrics its own way (``cpu_usage_percent``); ours come from the
agent (``system_cpu_percent``). Its names are mapped here, once; a name that is neither
is kept as written (a metric of the user's own, e.g. scraped from Prometheus).
"""

from __future__ import annotations

from typing import Any

from schemas.config.seed import Widget

__all__ = ["SPEC_METRICS", "resolve_widgets"]

#: The specification's metric names -> ours.
SPEC_METRICS = {
    "cpu_usage_percent": "system_cpu_percent",
    "memory_usage_percent": "system_memory_percent",
    "disk_usage_percent": "system_disk_used_percent",
    "swap_usage_percent": "system_swap_percent",
    "network_bytes_received": "system_network_receive_bytes_total",
    "network_bytes_sent": "system_network_transmit_bytes_total",
    "network_rx_bytes": "system_network_receive_bytes_total",
    "network_tx_bytes": "system_network_transmit_bytes_total",
    "request_count": "toka_span_calls",
    "error_count": "toka_span_errors",
    "request_latency_seconds": "toka_span_duration_seconds",
}

#: The shortcuts the configuration accepts instead of a full widget.
_SHORTCUTS = {
    "cpu": Widget(id="cpu", type="gauge", metric_name="system_cpu_percent", title="CPU %"),
    "memory": Widget(
        id="memory", type="gauge", metric_name="system_memory_percent", title="Memory %"
    ),  # fmt: skip
    "disk": Widget(
        id="disk",
        type="bar",
        metric_name="system_disk_used_percent",
        field="max",
        title="Disk used %",
    ),  # fmt: skip
    "network": Widget(
        id="network",
        type="line",
        metric_name="system_network_receive_bytes_total",
        field="rate",
        title="Network received B/s",
    ),  # fmt: skip
    "alerts": Widget(id="alerts", type="table", metric_name="alerts", title="Active alerts"),
}


def resolve_widgets(widgets: list[Widget | str]) -> list[dict[str, Any]]:
    """Widgets with our metric names, a title and the field to draw.

    Raises ValueError naming an unknown shortcut."""
    out = []
    for entry in widgets:
        if isinstance(entry, str) and entry not in _SHORTCUTS:
            raise ValueError(f"unknown shortcut {entry!r} "
                             f"(one of {', '.join(_SHORTCUTS)}, or a widget mapping)")  # fmt: skip
        item = _SHORTCUTS[entry] if isinstance(entry, str) else entry
        metric = SPEC_METRICS.get(item.metric_name, item.metric_name)
        # A counter's mean is a running total; its rate is what a person wants to see.
        field = "rate" if metric.endswith("_total") and item.field == "mean" else item.field
        out.append({
            "id": item.id, "type": item.type, "metric": metric, "field": field,
            "host": item.host, "title": item.title or item.id.replace("_", " "),
            "spec_name": item.metric_name,
        })  # fmt: skip
    return out
