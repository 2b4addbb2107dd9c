"""``toka bench``: runner, baseline file, compare table, exit code, publishing, and
``toka baseline --local``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.benchmarks.registry import from_callable, from_command, resolve
from pipeline.benchmarks.runner import run_benchmark
from pipeline.cli.main import main
from schemas import decode, encode
from schemas.analytics import BenchmarkResult
from schemas.config import TokaConfig
from schemas.jsonschema_files import load
from tests.support.kafka import collect

from . import sample_work

TARGET = "tests.pipeline.benchmarks.sample_work:work"


@pytest.fixture(autouse=True)
def _reset_sample() -> None:
    sample_work.DELAY, sample_work.FAIL = 0.002, False


def test_runner_repeats_and_summarises() -> None:
    b = from_callable("w", TARGET, iterations=3)
    res = run_benchmark(b, repeats=4, warmup=1, version="v", env={})
    assert res.repeats == 4 and len(res.samples) == 4 and res.operations == 4 * 3 * 10
    assert res.metric == "throughput_per_s" and res.higher_is_better
    assert 1000 < res.throughput_per_s < 5000  # 10 ops per ~2 ms
    assert res.latency_ms.p50 == pytest.approx(0.2, rel=0.5)  # per operation
    assert res.error_rate == 0.0 and res.peak_rss_bytes > 0
    jsonschema.validate(json.loads(encode(res)), load("toka.benchmark_result.v1"))


def test_errors_are_counted_not_raised() -> None:
    sample_work.FAIL = True
    res = run_benchmark(from_callable("w", TARGET), repeats=2, warmup=0, version="v", env={})
    assert res.error_rate == 1.0 and res.samples == []


def test_command_benchmark_times_runs() -> None:
    res = run_benchmark(from_command("t", "true"), repeats=3, warmup=0, version="v", env={})
    assert res.metric == "latency_ms_p50" and not res.higher_is_better
    assert len(res.samples) == 3 and res.error_rate == 0.0
    bad = run_benchmark(from_command("f", "false"), repeats=2, warmup=0, version="v", env={})
    assert bad.error_rate == 1.0


def test_unknown_benchmark_is_an_error() -> None:
    with pytest.raises(Exception, match="unknown benchmark"):
        resolve(["nope"], [])


def bench(tmp: Path, *extra: str) -> list[str]:
    return [
        "bench", "w", "--callable", f"w={TARGET}", "--iterations", "3", "--repeats", "5",
        "--warmup", "0", "--no-publish", "--baseline-file", str(tmp / "bl.json"), *extra,
    ]  # fmt: skip


def test_regression_exits_nonzero_and_compare_prints_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(bench(tmp_path)) == 0
    assert main(bench(tmp_path, "--compare")) == 0
    out = capsys.readouterr().out
    assert "verdict" in out and " ok" in out
    sample_work.DELAY = 0.004  # half the throughput
    assert main(bench(tmp_path, "--compare")) == 1
    captured = capsys.readouterr()
    assert "regression" in captured.out and "regression in w" in captured.err
    row = [ln for ln in captured.out.splitlines() if ln.startswith("w ")][-1]  # the table row
    change = float(row.split()[4].rstrip("%"))
    assert -60 < change < -35 and row.endswith("regression")
    # still regressed on the next run: a regressing run does not become the baseline
    assert main(bench(tmp_path)) == 1
    assert main(["baseline", "list", "--local", "--baseline-file", str(tmp_path / "bl.json")]) == 0
    assert "rolling" in capsys.readouterr().out
    # accept the new speed: reset, then the next run establishes the baseline again
    reset = ["baseline", "reset", "w", "--local", "--baseline-file", str(tmp_path / "bl.json")]
    assert main(reset) == 0
    assert main(bench(tmp_path)) == 0


def test_results_are_published_and_valid(
    kafka_config: TokaConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKA_KAFKA__BOOTSTRAP_SERVERS", kafka_config.kafka.bootstrap_servers)
    monkeypatch.setenv("TOKA_KAFKA__TOPIC_PREFIX", kafka_config.kafka.topic_prefix)
    args = [
        "bench", "codec.decode", "regressions.observe", "--repeats", "2", "--warmup", "0",
        "--baseline-file", str(tmp_path / "bl.json"), "--version", "1.2.3",
    ]  # fmt: skip
    assert main(args) == 0
    got = asyncio.run(
        collect(kafka_config.kafka.bootstrap_servers, kafka_config.kafka.topic("benchmarks"),
                lambda g: len(g) >= 2, 30)
    )  # fmt: skip
    schema = load("toka.benchmark_result.v1")
    names = set()
    for raw in got:
        jsonschema.validate(json.loads(raw), schema)
        r = decode(raw, BenchmarkResult)
        names.add(r.benchmark)
        assert r.version == "1.2.3" and len(r.samples) == 2 and r.environment["python"]
    assert names == {"codec.decode", "regressions.observe"}
