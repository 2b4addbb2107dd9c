"""End to end through the embedded broker: ``toka profile`` -> toka.profile-commands ->
the agent (a real ``toka agent`` process) -> report on toka.profiles -> analysis core.

The findings name the target's hot function and its leaking list; refusals come back
with their reason; a session is stopped early; killing the agent kills its profiler.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from pipeline.broker import EmbeddedBroker
from pipeline.cli.main import main
from pipeline.profiles.analysis import ProfileBaselines, analyse
from pipeline.topics import ensure_topics
from schemas.config import load_config
from schemas.config.profiling import ProfileAnalysisConfig
from schemas.profiles import ProfileReport
from tests.agents._support import read_topic_sync
from tests.support.kafka import stop_process, toka_process

pytestmark = pytest.mark.integration

HOST = "test-host"


def _config(tmp_path: Path, bootstrap: str, prefix: str, *, enabled: bool, host: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix},
        "performance": {"profiling_enabled": enabled},
        "agent": {
            "host": host,
            "sources": {"system": {"enabled": False}, "otlp": {"enabled": False}},
            "publisher": {"spool_dir": str(tmp_path / "spool"), "request_timeout_seconds": 3},
            "http": {"enabled": False},
            "profiling": {"processes": ["*target_app.py*"], "snapshot_interval_seconds": 1.0,
                          "sdk_socket_dir": str(tmp_path.parent / "sdk")},
        },
    }  # fmt: skip
    path = tmp_path / "toka.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _start_agent(config: Path, log: Path) -> object:
    proc = toka_process(["-c", str(config), "agent"], {}, log)
    deadline = time.monotonic() + 60
    while "listening for profiling commands" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return proc


def _toka(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str]:
    code = main(["-c", str(config), "profile", *args])
    return code, capsys.readouterr().out


def _pyspy_on(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"py-spy") and str(pid).encode() in cmd:
                found.append(int(entry.name))
    return found


def test_profile_sessions_end_to_end(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path, start_target, capsys
) -> None:  # type: ignore[no-untyped-def]
    config = _config(tmp_path / "on", broker.bootstrap, topic_prefix, enabled=True, host=HOST)
    off = _config(tmp_path / "off", broker.bootstrap, topic_prefix, enabled=False, host="quiet")
    asyncio.run(ensure_topics(load_config(config)))
    agent = _start_agent(config, tmp_path / "agent.log")
    quiet = _start_agent(off, tmp_path / "quiet.log")
    try:
        target = start_target(version="3.0")
        pid = str(target.pid)

        # CPU, then memory, on the same process: each waits for its report (--follow)
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid,
                          "--duration", "3s", "--rate", "100", "--follow")  # fmt: skip
        assert code == 0, out
        assert ": done" in out and "hot_function" in out and "finding [" in out
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid,
                          "--kind", "memory", "--duration", "4s", "--follow")  # fmt: skip
        assert code == 0, out
        assert "leaking_list.append" in out

        # refusals, each with its reason
        code, out = _toka(capsys, off, "start", "--host", "quiet", "--pid", pid)
        assert code == 1 and "profiling is disabled on this host" in out
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", str(os.getpid()))
        assert code == 1 and "matches none of agent.profiling.processes" in out
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid, "--expires", "0")
        assert code == 1 and "command expired" in out
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid,
                          "--duration", "60s")  # fmt: skip
        assert code == 0 and ": accepted" in out
        long_session = out.split(":")[0]
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid, "--kind", "memory")
        assert code == 1 and f"already running on process {pid} ({long_session})" in out
        code, out = _toka(capsys, config, "stop", long_session)
        assert code == 0 and f"{long_session}: stopped" in out

        code, out = _toka(capsys, config, "list")
        assert out.count(" done ") == 2 and out.count(" refused ") == 4, out
        assert " stopped " in out

        # the stream carries the reports; the analysis core names both culprits
        records = [r for _, r in read_topic_sync(broker.bootstrap, f"{topic_prefix}profiles",
                                                 expect=20)]  # fmt: skip
        reports = [r for r in records if isinstance(r, ProfileReport)]
        assert {r.kind for r in reports} == {"cpu", "memory"}
        assert {(r.service, r.version) for r in reports} == {("shop", "3.0")}
        settings = ProfileAnalysisConfig(bottleneck_share=0.2, leak_min_snapshots=3,
                                         leak_min_growth_bytes=100_000)  # fmt: skip
        state = ProfileBaselines()
        findings = [f for r in reports for f in analyse(state, r, settings)]
        bottlenecks = [f for f in findings if f.kind == "bottleneck"]
        leaks = [f for f in findings if f.kind == "leak_suspect"]
        assert any(f.subject.startswith("hot_function (") for f in bottlenecks), findings
        assert any("leaking_list.append" in f.summary for f in leaks), findings
        assert all(f.host == HOST and f.service == "shop" and f.version == "3.0" for f in leaks)

        cpu_session = next(r.session for r in reports if r.kind == "cpu")
        raw = tmp_path / "stacks.txt"
        code, out = _toka(capsys, config, "show", cpu_session, "--raw", str(raw))
        assert code == 0 and "hot_function" in raw.read_text()

        # a session never outlives the agent: SIGKILL the agent, its py-spy dies with it
        code, out = _toka(capsys, config, "start", "--host", HOST, "--pid", pid,
                          "--duration", "60s")  # fmt: skip
        assert code == 0
        deadline = time.monotonic() + 10
        while not _pyspy_on(target.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pyspy_on(target.pid)
        agent.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        agent.wait()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 5
        while _pyspy_on(target.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _pyspy_on(target.pid)
    finally:
        stop_process(agent)  # type: ignore[arg-type]
        stop_process(quiet)  # type: ignore[arg-type]
