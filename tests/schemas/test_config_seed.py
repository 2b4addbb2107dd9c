"""The specification's three configuration blocks, pasted verbatim, and their aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.config import load_config
from schemas.config.aliases import ALIASES, REPLACED
from schemas.config.switches import SWITCHES, disabled, is_on
from schemas.errors import ConfigError

# Verbatim from the specification (Configuration Management), comments included.
SPEC_BLOCKS = """\
performance:
  metrics_enabled: true
  tracing_enabled: true
  monitoring_enabled: true
  benchmarking_enabled: true
  regression_detection_enabled: true
  dashboard_enabled: false  # Disabled by default in production
  metrics_interval_seconds: 10
  tracing_sample_rate: 0.1  # 10% sampling rate

monitoring:
  enabled: true
  interval_seconds: 10
  thresholds:
    cpu_warning_percent: 70.0
    cpu_critical_percent: 85.0
    memory_warning_percent: 75.0
    memory_critical_percent: 90.0
  history_retention_minutes: 60

dashboard:
  enabled: false
  refresh_interval_seconds: 30
  max_data_points: 100
  theme: "dark"
  widgets:
    - id: "cpu_usage"
      type: "gauge"
      metric_name: "cpu_usage_percent"
"""

REPO = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, text: str):
    f = tmp_path / "toka.yaml"
    f.write_text(text)
    return load_config(f)


def test_the_specification_blocks_load_and_mean_what_they_say(tmp_path: Path) -> None:
    cfg = _load(tmp_path, SPEC_BLOCKS)
    assert cfg.dashboard.enabled is False and cfg.performance.dashboard_enabled is False
    assert cfg.monitoring.enabled is True
    assert cfg.analytics.regressions.enabled is True
    assert cfg.performance.tracing_sample_rate == 0.1
    assert cfg.agent.interval_seconds == 10
    assert (cfg.dashboard.refresh_interval_seconds, cfg.dashboard.max_data_points) == (30, 100)
    (widget,) = cfg.dashboard.widgets
    assert not isinstance(widget, str)
    assert (widget.id, widget.type, widget.metric_name) == ("cpu_usage", "gauge",
                                                            "cpu_usage_percent")  # fmt: skip
    assert [s.key for s in disabled(cfg)] == ["dashboard.enabled", "performance.profiling_enabled"]


@pytest.mark.parametrize(("canonical", "alias"), [(c, a) for c, al in ALIASES.items() for a in al])
def test_an_alias_sets_its_canonical_key(tmp_path: Path, canonical: str, alias: str) -> None:
    value = 7 if canonical.endswith("seconds") else False
    cfg = _load(tmp_path, _nested(alias, value))
    assert _get(cfg, canonical) == value
    assert _get(cfg, alias) == value  # both read the same truth


def test_the_metrics_interval_alias_reaches_the_agent_sources(tmp_path: Path) -> None:
    from agents.runtime import source_interval

    cfg = _load(tmp_path, "performance:\n  metrics_interval_seconds: 3\n")
    assert source_interval(cfg, cfg.agent.sources.system) == 3
    assert source_interval(cfg, cfg.agent.sources.prometheus) == 3


@pytest.mark.parametrize(("canonical", "alias"), [(c, a) for c, al in ALIASES.items() for a in al])
def test_conflicting_values_name_both_keys(tmp_path: Path, canonical: str, alias: str) -> None:
    one, two = (5, 7) if canonical.endswith("seconds") else (True, False)
    text = _nested(canonical, one) + _nested(alias, two)
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _merge_yaml(text))
    ((path, msg),) = err.value.errors
    assert path == canonical and alias in msg and canonical in msg


def test_equal_values_are_no_conflict(tmp_path: Path) -> None:
    cfg = _load(
        tmp_path,
        "agent:\n  interval_seconds: 5\nmonitoring:\n  interval_seconds: 5.0\n"
        "performance:\n  metrics_interval_seconds: 5\n",
    )
    assert cfg.agent.interval_seconds == 5


def test_an_environment_value_conflicting_with_the_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKA_MONITORING__ENABLED", "false")
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, "performance:\n  monitoring_enabled: true\n")
    assert "performance.monitoring_enabled" in err.value.errors[0][1]
    monkeypatch.setenv("TOKA_PERFORMANCE__MONITORING_ENABLED", "false")
    assert _load(tmp_path, "{}\n").monitoring.enabled is False


@pytest.mark.parametrize(("old", "new"), list(REPLACED.items()))
def test_replaced_keys_are_refused_with_their_replacement(
    tmp_path: Path, old: str, new: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, _nested(old, False))
    ((path, msg),) = err.value.errors
    assert path == old and new in msg


def test_several_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        "performance:\n  anomaly_detection_enabled: false\n  capacity_planning_enabled: false\n"
        "  dashboard_enabled: true\ndashboard:\n  enabled: false\n"
    )
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert [p for p, _ in err.value.errors] == [*REPLACED, "dashboard.enabled"]


@pytest.mark.parametrize(
    ("widgets", "expected"),
    [
        ("[bogus]", "unknown shortcut 'bogus'"),
        ("[{id: a, type: pie, metric_name: x}]", "type"),
        ("[{id: a, type: gauge}]", "metric_name"),
    ],
)  # fmt: skip
def test_bad_widgets_are_refused(tmp_path: Path, widgets: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, f"dashboard:\n  widgets: {widgets}\n")
    assert any(path.startswith("dashboard") and expected in f"{path} {msg}"
               for path, msg in err.value.errors), err.value.errors  # fmt: skip


def test_every_switch_is_a_key_and_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    cfg = load_config()
    for switch in SWITCHES:
        assert isinstance(is_on(cfg, switch.key), bool)
        assert f"| `{switch.key}` | {switch.turns_off} |" in readme, switch.key
    for canonical, aliases in ALIASES.items():
        assert f"| `{canonical}` |" in readme and all(f"`{a}`" in readme for a in aliases)


def test_config_check_lists_the_switches_that_are_off(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "toka.yaml"
    f.write_text(SPEC_BLOCKS)
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "config", "check", str(f)],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout  # fmt: skip
    assert "off: dashboard.enabled" in out and "off: performance.metrics_enabled" not in out


def _nested(path: str, value: object) -> str:
    parts = path.split(".")
    lines = [f"{'  ' * i}{p}:" for i, p in enumerate(parts[:-1])]
    rendered = str(value).lower() if isinstance(value, bool) else value
    lines.append(f"{'  ' * (len(parts) - 1)}{parts[-1]}: {rendered}")
    return "\n".join(lines) + "\n"


def _merge_yaml(text: str) -> str:
    """Two nested snippets in one document (their top-level keys may repeat)."""
    import yaml

    def merge(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) else v
        return a

    merged: dict = {}
    docs = []
    current: list[str] = []
    for line in text.splitlines():
        if line and not line.startswith(" ") and current:
            docs.append("\n".join(current))
            current = []
        current.append(line)
    docs.append("\n".join(current))
    for doc in docs:
        merge(merged, yaml.safe_load(doc))
    return yaml.safe_dump(merged)


def _get(cfg: object, path: str) -> object:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg
