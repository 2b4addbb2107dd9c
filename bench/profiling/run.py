"""Overhead of a CPU profiling session on the profiled process: its throughput with and
without py-spy sampling it, in one run.

    nice -n 10 .venv/bin/python bench/profiling/run.py [--phase-seconds 8] [--rounds 5]

A CPU-bound Python workload (20 frames deep) counts its calls. Variants: the agent's CPU
session (agents.profiling.cpu.run_cpu) at the default rate; at the cap
(agent.profiling.max_rate_hz); at the default rate with --nonblocking. Each profiled phase
is paired with an unprofiled phase just before it (and an unprofiled pair, A/A, shows the
noise floor of the machine); slowdown = 1 - profiled / unprofiled
calls per second (median over pairs), also per CPU second of the workload (what sampling
costs it, apart from waiting for a CPU on a busy host). The profiler's own CPU (the
session's reported overhead) is shown beside it. Writes bench/results/profiling.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agents.profiling.cpu import find_pyspy, run_cpu  # noqa: E402
from agents.profiling.target import cpu_seconds_and_peak_rss  # noqa: E402
from schemas.config.profiling import ProfilingConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "profiling.json"


class Counter:
    """The workload's latest (count, time), read from its output in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.latest = (0, 0.0)
        self._proc = proc
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            count, at = line.split()
            self.latest = (int(count), float(at))

    def measure(self, seconds: float) -> tuple[float, float]:
        """(calls per second of wall time, calls per CPU second of the workload)."""
        c0, t0 = self.latest
        cpu0 = _cpu_seconds(self._proc.pid)
        time.sleep(seconds)
        c1, t1 = self.latest
        cpu1 = _cpu_seconds(self._proc.pid)
        return (c1 - c0) / (t1 - t0), (c1 - c0) / max(cpu1 - cpu0, 1e-9)


def _cpu_seconds(pid: int) -> float:
    usage = cpu_seconds_and_peak_rss(pid)
    assert usage is not None
    return usage[0]


async def _profiled(
    counter: Counter, pyspy: str, pid: int, *, rate: int, nonblocking: bool, seconds: float
) -> tuple[tuple[float, float], dict[str, Any]]:
    stop = asyncio.Event()
    started = time.monotonic()
    session = asyncio.create_task(
        run_cpu(pyspy, pid, seconds + 3, rate, nonblocking=nonblocking, stop=stop)
    )
    await asyncio.sleep(1.0)  # py-spy attached and sampling
    measured = await asyncio.to_thread(counter.measure, seconds)
    stop.set()
    result = await session
    wall = time.monotonic() - started
    return measured, {"profiler_cpu_percent": result.overhead.cpu_percent,
                      "samples_per_second": result.overhead.samples / wall,
                      "sample_errors": result.overhead.sample_errors}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase-seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    settings = ProfilingConfig()
    pyspy = find_pyspy()
    if pyspy is None:
        print("py-spy not found", file=sys.stderr)
        return 2
    variants: dict[str, tuple[int, bool] | None] = {
        "none (A/A: the noise floor)": None,
        f"{settings.default_rate_hz} Hz (default), nonblocking": (settings.default_rate_hz, True),
        f"{settings.max_rate_hz} Hz (cap), nonblocking": (settings.max_rate_hz, True),
        f"{settings.default_rate_hz} Hz, pausing (nonblocking: false)": (
            settings.default_rate_hz,
            False,
        ),
    }
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("workload.py"))],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    # Each profiled phase is paired with an unprofiled phase just before it: the ratio of
    # the pair is the overhead, so the load of a shared machine drifting cancels out.
    ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    base_rates: list[float] = []
    extra: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    load = os.getloadavg()[0]
    try:
        counter = Counter(proc)
        time.sleep(2.0)  # warm up, and py-spy needs an initialised interpreter
        for _ in range(args.rounds):
            for name, variant in variants.items():
                wall0, cpu0 = counter.measure(args.phase_seconds)
                base_rates.append(wall0)
                info: dict[str, Any] = {}
                if variant is None:
                    time.sleep(1.0)  # as long as a profiled phase waits for py-spy
                    wall1, cpu1 = counter.measure(args.phase_seconds)
                else:
                    rate, nonblocking = variant
                    (wall1, cpu1), info = asyncio.run(_profiled(
                        counter, pyspy, proc.pid, rate=rate, nonblocking=nonblocking,
                        seconds=args.phase_seconds))  # fmt: skip
                ratios[name].append((wall1 / wall0, cpu1 / cpu0))
                extra[name].append(info)
    finally:
        proc.kill()
        proc.wait()
    rows = []
    print(f"\nCPU session overhead on a CPU-bound Python process, {args.rounds} pairs of "
          f"{args.phase_seconds:g} s phases per variant (medians; load average {load:.1f} "
          f"on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"unprofiled: {statistics.median(base_rates):,.0f} calls/s")
    print(f"{'variant':32}{'slowdown (wall)':>16}{'per CPU s':>11}{'py-spy CPU %':>14}"
          f"{'samples/s':>11}")  # fmt: skip
    for name in variants:
        wall = 1 - statistics.median(r[0] for r in ratios[name])
        cpu = 1 - statistics.median(r[1] for r in ratios[name])
        profiler = statistics.median(e.get("profiler_cpu_percent", 0.0) for e in extra[name])
        per_second = statistics.median(e.get("samples_per_second", 0.0) for e in extra[name])
        rows.append({"variant": name, "slowdown_percent": round(100 * wall, 2),
                     "slowdown_per_cpu_second_percent": round(100 * cpu, 2),
                     "pairs": [[round(a, 4), round(b, 4)] for a, b in ratios[name]],
                     "profiler_cpu_percent": profiler,
                     "samples_per_second": round(per_second, 1)})  # fmt: skip
        print(f"{name:32}{100 * wall:>15.1f}%{100 * cpu:>10.1f}%{profiler:>14.1f}"
              f"{per_second:>11.0f}")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "bench": "profiling", "ts": time.time(), "host": platform.node(),
        "cpus": os.cpu_count(), "load_average": load, "phase_seconds": args.phase_seconds,
        "rounds": args.rounds,
        "default_rate_hz": settings.default_rate_hz, "max_rate_hz": settings.max_rate_hz,
        "unprofiled_calls_per_second": round(statistics.median(base_rates), 1), "results": rows,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
