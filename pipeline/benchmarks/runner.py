"""Run one benchmark: warm-up, repeats, per-call timing, errors and memory -> BenchmarkResult."""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from pipeline.benchmarks.registry import Benchmark
from schemas.analytics import BenchmarkResult, LatencyStats
from schemas.records import new_id

__all__ = ["environment", "run_benchmark"]

Progress = Callable[[int, int], None]


def environment() -> dict[str, str]:
    """What a result depends on, so a comparison across machines can be spotted."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count() or 0),
        "hostname": socket.gethostname(),
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            check=False,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    if commit:
        env["git_commit"] = commit
    return env


def _peak_rss(kind: str) -> int:
    who = resource.RUSAGE_CHILDREN if kind == "command" else resource.RUSAGE_SELF
    kb = resource.getrusage(who).ru_maxrss
    return int(kb if sys.platform == "darwin" else kb * 1024)  # macOS reports bytes


def run_benchmark(
    bench: Benchmark,
    *,
    repeats: int,
    warmup: int,
    version: str,
    env: dict[str, str] | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> BenchmarkResult:
    """Repeat ``bench`` and summarise; exceptions count as errors, never abort the run."""
    work = bench.make()
    total_steps = (warmup + repeats) * bench.iterations
    step = 0
    latencies: list[float] = []  # seconds per operation, one per successful call
    samples: list[float] = []
    ops_total = errors = calls = 0
    busy = 0.0  # seconds inside successful measured calls
    started = clock()
    for r in range(warmup + repeats):
        measured = r >= warmup
        rep_ops, rep_time, rep_lat = 0, 0.0, []
        for _ in range(bench.iterations):
            t0 = clock()
            try:
                ops = work() or 1
            except Exception:
                ops = 0
            dt = clock() - t0
            step += 1
            if progress:
                progress(step, total_steps)
            if not measured:
                continue
            calls += 1
            if ops == 0:
                errors += 1
                continue
            rep_ops += ops
            rep_time += dt
            rep_lat.append(dt / ops)
        if measured:
            latencies.extend(rep_lat)
            ops_total += rep_ops
            busy += rep_time
            if not rep_lat:
                pass  # every call failed: no sample (error_rate says so)
            elif bench.metric == "throughput_per_s":
                samples.append(rep_ops / rep_time)
            else:
                samples.append(float(np.median(rep_lat)) * 1000.0)
    duration = clock() - started
    ms = np.asarray(latencies or [0.0]) * 1000.0
    throughput = ops_total / busy if busy > 0 else 0.0
    return BenchmarkResult(
        id=new_id(),
        ts=time.time(),
        benchmark=bench.name,
        run_id=new_id(),
        version=version,
        repeats=repeats,
        operations=ops_total,
        metric=bench.metric,
        higher_is_better=bench.higher_is_better,
        samples=[round(s, 6) for s in samples],
        throughput_per_s=throughput,
        latency_ms=LatencyStats(
            mean=float(ms.mean()),
            p50=float(np.percentile(ms, 50)),
            p90=float(np.percentile(ms, 90)),
            p95=float(np.percentile(ms, 95)),
            p99=float(np.percentile(ms, 99)),
        ),
        error_rate=errors / calls if calls else 0.0,
        peak_rss_bytes=_peak_rss(bench.kind),
        duration_s=round(duration, 4),
        environment=env if env is not None else environment(),
        labels={"kind": bench.kind},
    )
