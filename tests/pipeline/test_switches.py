"""One test per ``*_enabled`` switch: turned off, the part it names does nothing.

(dashboard.enabled and performance.profiling_enabled are read by the dashboard service and
the agent's profiling sessions; their tests live with them.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.alerts.defaults import worker_rules
from pipeline.app import create_app, enabled_stages
from schemas.config import TokaConfig
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

REPO = Path(__file__).resolve().parents[2]


def _agent_names(cfg: TokaConfig, stages: list[str] | None = None) -> set[str]:
    app = create_app(cfg, stages=stages)
    return {a.name for a in app.agents.values()}


def test_metrics_enabled_off_stops_collection_and_the_windows_stage() -> None:
    """(The agent's /v1/metrics route: see the tracing test below.)"""
    from agents.runtime import build_sources

    on = TokaConfig()
    off = TokaConfig(performance={"metrics_enabled": False})
    assert build_sources(on).names() and not build_sources(off).names()
    assert "pipeline.windows.stage" in enabled_stages(on)
    assert "pipeline.windows.stage" not in enabled_stages(off)
    assert "pipeline.otlp_metrics.stage" not in enabled_stages(off)
    assert not any("window" in n for n in _agent_names(off))


def test_profiling_enabled_runs_the_profiles_stage_only_when_on() -> None:
    on = TokaConfig(performance={"profiling_enabled": True})
    assert "pipeline.profiles.stage" not in enabled_stages(TokaConfig())  # off by default
    assert "pipeline.profiles.stage" in enabled_stages(on)
    assert "toka-profiles" in _agent_names(on)
    assert "toka-profiles" not in _agent_names(TokaConfig())


def test_tracing_enabled_off_stops_the_spans_stage_and_receiver(tmp_path: Path) -> None:
    import asyncio

    from agents.runtime import AgentRuntime

    def config(**performance: bool) -> TokaConfig:
        return TokaConfig(
            performance=performance,
            agent={"http": {"enabled": False}, "sources": {"otlp": {"port": 0}},
                   "publisher": {"spool_dir": str(tmp_path)}},
        )  # fmt: skip

    assert "pipeline.spans.stage" not in enabled_stages(config(tracing_enabled=False))
    assert "pipeline.spans.stage" in enabled_stages(TokaConfig())

    async def routes(cfg: TokaConfig) -> dict[str, int] | None:
        """The OTLP receiver's answer per route to an empty JSON body; None: not started."""
        import aiohttp

        runtime = AgentRuntime(cfg)
        await runtime.start_servers()
        try:
            if runtime.otlp_port is None:
                return None
            out = {}
            async with aiohttp.ClientSession() as http:
                for route in ("traces", "metrics"):
                    url = f"http://127.0.0.1:{runtime.otlp_port}/v1/{route}"
                    async with http.post(url, json={}) as resp:
                        out[route] = resp.status
            return out
        finally:
            await runtime.close()

    assert asyncio.run(routes(config())) == {"traces": 200, "metrics": 200}
    assert asyncio.run(routes(config(tracing_enabled=False))) == {"traces": 404, "metrics": 200}
    assert asyncio.run(routes(config(metrics_enabled=False))) == {"traces": 200, "metrics": 404}
    assert asyncio.run(routes(config(tracing_enabled=False, metrics_enabled=False))) is None


@pytest.mark.parametrize("key", ["monitoring", "performance"])
def test_monitoring_off_evaluates_no_rules(key: str) -> None:
    cfg = (
        TokaConfig(monitoring={"enabled": False})
        if key == "monitoring"
        else TokaConfig(performance={"monitoring_enabled": False})
    )
    hot = agg("system_cpu_percent", 99.0, 1000.0, "h1")
    assert worker_rules(TokaConfig()).evaluate(hot, ChangelogDict(), 1001.0)
    assert worker_rules(cfg).evaluate(hot, ChangelogDict(), 1001.0) == []


@pytest.mark.parametrize(
    ("block", "stage", "agent"),
    [
        ({"performance": {"regression_detection_enabled": False}}, "regressions",
         "toka-regressions"),
        ({"analytics": {"regressions": {"enabled": False}}}, "regressions", "toka-regressions"),
        ({"analytics": {"anomalies": {"enabled": False}}}, "anomalies", "toka-anomalies"),
        ({"analytics": {"capacity": {"enabled": False}}}, "capacity", "toka-capacity"),
    ],
)  # fmt: skip
def test_analytics_switches_off_install_no_stage(block: dict, stage: str, agent: str) -> None:
    stages = [f"pipeline.{stage}.stage"]
    assert agent in _agent_names(TokaConfig(), stages)
    assert agent not in _agent_names(TokaConfig(**block), stages)


def test_benchmarking_off_refuses_toka_bench(tmp_path: Path) -> None:
    f = tmp_path / "toka.yaml"
    f.write_text("performance:\n  benchmarking_enabled: false\n")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "-c", str(f), "bench", "--no-publish"],
        check=False, capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "performance.benchmarking_enabled" in done.stderr
