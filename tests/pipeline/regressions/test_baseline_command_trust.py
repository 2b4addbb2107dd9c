"""baseline-commands is a trust boundary: a real worker obeys only what its own
configuration allows (analytics.regressions.commands) and logs what it did."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pipeline.broker import EmbeddedBroker
from pipeline.cli.main import main
from pipeline.regressions.stage import command_topic
from schemas import encode, new_id
from schemas.analytics import BaselineCommand, BenchmarkResult, LatencyStats
from tests.pipeline.regressions.analytics_support import stage_worker
from tests.support.kafka import publish

pytestmark = pytest.mark.integration

SUBJECT = "codec.decode"


def _run(samples: list[float], version: str) -> BenchmarkResult:
    return BenchmarkResult(
        id=new_id(), ts=0.0, benchmark=SUBJECT, run_id=new_id(), version=version,
        repeats=len(samples), operations=1000, metric="latency_ms_p50", higher_is_better=False,
        samples=samples, throughput_per_s=1000.0,
        latency_ms=LatencyStats(mean=1, p50=1, p90=1, p95=1, p99=1),
        error_rate=0.0, peak_rss_bytes=1, duration_s=1.0,
    )  # fmt: skip


def test_the_worker_obeys_only_what_its_configuration_allows(
    broker: EmbeddedBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = {"regressions": {"commands": {"actions": ["pin", "unpin"],
                                             "max_age_seconds": 600}},
                "state_flush_seconds": 1}  # fmt: skip
    with stage_worker(broker, "pipeline.regressions.stage", tmp_path, settings) as cfg:
        bootstrap = cfg.kafka.bootstrap_servers
        monkeypatch.setenv("TOKA_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("TOKA_KAFKA__TOPIC_PREFIX", cfg.kafka.topic_prefix)
        monkeypatch.setenv("TOKA_PIPELINE__APP_ID", cfg.pipeline.app_id)
        first = encode(_run([1.0, 1.01, 0.99], "a1"))
        asyncio.run(publish(bootstrap, cfg.kafka.topic("benchmarks"), [(SUBJECT.encode(), first)]))

        def state(want: str, timeout: float = 60) -> str:
            row = ""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                capsys.readouterr()
                main(["baseline", "list"])
                rows = [ln for ln in capsys.readouterr().out.splitlines() if SUBJECT in ln]
                row = rows[0] if rows else ""
                if want in row:
                    return row
                time.sleep(0.5)
            raise AssertionError(f"{SUBJECT} never {want}: {row!r}")

        state("rolling")
        assert main(["baseline", "reset", SUBJECT]) == 0  # written to the topic, refused
        assert main(["baseline", "pin", SUBJECT]) == 0  # allowed: obeyed
        state("pinned")
        stale = BaselineCommand(id="stale-1", ts=time.time() - 3600, action="unpin",
                                subject=SUBJECT)  # fmt: skip
        asyncio.run(publish(bootstrap, command_topic(cfg), [(SUBJECT.encode(), encode(stale))]))
        logs = list(tmp_path.glob("worker-*.log"))
        deadline = time.monotonic() + 30
        while "stale-1" not in "".join(p.read_text(errors="replace") for p in logs):
            assert time.monotonic() < deadline, "the stale command was never recorded"
            time.sleep(0.5)
        assert "pinned" in state("pinned")  # the stale unpin did nothing
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "reset codec.decode -> refused_action" in text
    assert "unpin codec.decode -> refused_too_old" in text
    assert "pin codec.decode -> applied to benchmark" in text
