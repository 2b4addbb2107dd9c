"""dashboard.widgets as the specification writes them -> what the UI draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.dashboard.widgets import resolve_widgets
from schemas.config import TokaConfig, load_config
from schemas.errors import ConfigError


def test_spec_widgets_get_our_metric_names_and_counters_their_rate() -> None:
    cfg = TokaConfig(dashboard={"widgets": [
        {"id": "cpu_usage", "type": "gauge", "metric_name": "cpu_usage_percent"},
        {"id": "rx", "type": "line", "metric_name": "network_bytes_received"},
        {"id": "mine", "type": "table", "metric_name": "app_queue_depth", "host": "web-1",
         "field": "max", "title": "Queue"},
        "alerts",
    ]})  # fmt: skip
    cpu, rx, mine, alerts = resolve_widgets(cfg.dashboard.widgets)
    assert (cpu["metric"], cpu["spec_name"], cpu["field"]) == (
        "system_cpu_percent", "cpu_usage_percent", "mean")  # fmt: skip
    assert (rx["metric"], rx["field"]) == ("system_network_receive_bytes_total", "rate")
    assert mine == {"id": "mine", "type": "table", "metric": "app_queue_depth", "field": "max",
                    "host": "web-1", "title": "Queue", "spec_name": "app_queue_depth"}  # fmt: skip
    assert (alerts["type"], alerts["metric"]) == ("table", "alerts")


@pytest.mark.parametrize(("widgets", "words"), [
    (["cpux"], "unknown shortcut 'cpux'"),
    ([{"id": "x", "type": "pie", "metric_name": "m"}], "'line', 'bar', 'gauge'"),
    ([{"id": "x", "type": "gauge"}], "metric_name"),
])  # fmt: skip
def test_bad_widgets_are_refused_at_start_with_the_key(
    tmp_path: Path, widgets: list, words: str
) -> None:
    path = tmp_path / "toka.yaml"
    path.write_text(yaml.safe_dump({"dashboard": {"widgets": widgets}}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "dashboard" in str(err.value) and words in str(err.value)
