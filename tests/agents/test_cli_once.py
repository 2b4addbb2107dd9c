"""`toka agent --once` and `toka agent publish-synthetic` against the real embedded broker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.cli.main import main
from schemas.records import MetricBatch
from tests.agents._support import agent_config_file, read_topic_sync

pytestmark = pytest.mark.integration

REQUIRED = {
    "system_cpu_percent", "system_memory_percent", "system_cpu_core_percent",
    "system_memory_used_bytes", "system_memory_available_bytes", "system_swap_percent",
    "system_disk_used_percent", "system_disk_used_bytes", "system_disk_total_bytes",
    "system_network_receive_bytes_total", "system_load1", "system_load5", "system_load15",
    "process_resident_memory_bytes", "system_context_switches_total",
}  # fmt: skip


def test_once_publishes_one_metric_batch(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path):
    cfg = agent_config_file(tmp_path, broker.bootstrap, topic_prefix)
    assert main(["-c", str(cfg), "agent", "--once"]) == 0

    records = read_topic_sync(broker.bootstrap, f"{topic_prefix}metrics", expect=1)
    assert len(records) == 1
    key, batch = records[0]
    assert isinstance(batch, MetricBatch)
    assert key == b"test-host" and batch.host == "test-host" and batch.source == "system"
    names = {s.name for s in batch.samples}
    assert names >= REQUIRED, REQUIRED - names
    cpu = next(s for s in batch.samples if s.name == "system_cpu_percent")
    assert 0.0 <= cpu.value <= 100.0 and cpu.labels == {} and cpu.type == "gauge"
    counters = {s.name for s in batch.samples if s.type == "counter"}
    assert "system_network_receive_bytes_total" in counters
    rss = [s for s in batch.samples if s.name == "process_resident_memory_bytes"]
    assert rss and all(set(s.labels) == {"pid", "name"} and s.value >= 0 for s in rss)
    assert any(s.value > 0 for s in rss)  # kernel threads and exiting processes have none


def test_publish_synthetic(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path):
    cfg = agent_config_file(tmp_path, broker.bootstrap, topic_prefix)
    rc = main(["-c", str(cfg), "agent", "publish-synthetic", "--cpu", "95", "--host", "demo"])
    assert rc == 0
    [(key, batch)] = read_topic_sync(broker.bootstrap, f"{topic_prefix}metrics", expect=1)
    assert key == b"demo"
    assert [(s.name, s.value) for s in batch.samples] == [("system_cpu_percent", 95.0)]


_PROBE = """
import json, sys
{call}
heavy = sorted(m for m in ("faust", "statsmodels") if m in sys.modules)
print(json.dumps({{"rc": rc, "heavy": heavy,
  "pipeline": sorted(m for m in sys.modules if m == "pipeline" or m.startswith("pipeline."))}}))
"""


@pytest.mark.parametrize(
    "call",
    [
        "from agents.__main__ import main; rc = main(['-c', sys.argv[1], '--once'])",
        "from pipeline.cli.main import main; rc = main(['-c', sys.argv[1], 'agent', '--once'])",
    ],
    ids=["python-m-agents", "toka-agent"],
)
def test_agent_never_imports_faust_or_statsmodels(
    call: str, broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    cfg = agent_config_file(tmp_path, broker.bootstrap, topic_prefix)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(call=call), str(cfg)],
        check=False, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert result["heavy"] == []
    if "agents.__main__" in call:
        assert result["pipeline"] == []  # the agent itself never imports pipeline.*


def test_runs_until_sigterm_and_flushes(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path):
    cfg = agent_config_file(tmp_path, broker.bootstrap, topic_prefix)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents", "-c", str(cfg)],
        cwd=Path(__file__).parents[2], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        records = read_topic_sync(broker.bootstrap, f"{topic_prefix}metrics", expect=3, timeout=20)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in err
    after = read_topic_sync(broker.bootstrap, f"{topic_prefix}metrics", expect=len(records))
    ids = [b.id for _, b in after]
    assert len(ids) >= 3 and len(set(ids)) == len(ids)
    assert not list((tmp_path / "spool").glob("*.seg"))  # everything was sent, nothing left


def test_bad_config_fails_at_start_with_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent:\n  publisher:\n    drop_policy: sideways\n  sources:\n    sytem: {}\n")
    out = subprocess.run(
        [sys.executable, "-m", "agents", "-c", str(bad), "--once"],
        check=False, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert out.returncode == 2
    assert "agent.publisher.drop_policy" in out.stderr and "agent.sources.sytem" in out.stderr
