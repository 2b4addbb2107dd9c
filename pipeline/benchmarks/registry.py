"""Named benchmarks: the project's own hot paths, and user ones (a command or a callable).

A benchmark is a function of no arguments that does some work and returns how many
operations it did (``None`` = 1). Built-ins are created lazily so listing them is cheap.
"""

from __future__ import annotations

import importlib
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from schemas.config.analytics import UserBenchmark
from schemas.errors import TokaError

__all__ = ["BUILTINS", "Benchmark", "BenchmarkError", "from_callable", "from_command", "resolve"]

Work = Callable[[], int | None]


class BenchmarkError(TokaError):
    pass


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    make: Callable[[], Work]  # setup, outside the timed region
    iterations: int = 1
    kind: str = "builtin"
    higher_is_better: bool = True  # the per-repeat metric below
    metric: str = "throughput_per_s"
    description: str = ""


def _codec_decode() -> Work:
    from schemas import MetricBatch, Sample, decode, encode, new_id

    batch = MetricBatch(
        id=new_id(), host="h", source="bench", ts=0.0,
        samples=[Sample(name=f"m{i}", value=float(i), labels={"k": str(i)}) for i in range(100)],
    )  # fmt: skip
    raw = encode(batch)

    def work() -> int:
        for _ in range(100):
            decode(raw, MetricBatch)
        return 100

    return work


def _regression_observe() -> Work:
    import numpy as np

    from pipeline.regressions.detector import DetectorParams, DetectorState, observe

    values = (100 * (1 + 0.05 * np.random.default_rng(0).standard_normal(2000))).tolist()
    params = DetectorParams()

    def work() -> int:
        st = DetectorState()
        for i, v in enumerate(values):
            observe(st, v, "v", float(i), params)
        return len(values)

    return work


def _anomaly_score() -> Work:
    import numpy as np

    from pipeline.anomalies.scoring import ScoreParams, SeriesState, score_value

    values = (50 + np.random.default_rng(0).standard_normal(2000)).tolist()
    params = ScoreParams(periods_s=())

    def work() -> int:
        st = SeriesState()
        for i, v in enumerate(values):
            score_value(st, v, float(i), params)
        return len(values)

    return work


def _capacity_refit() -> Work:
    import numpy as np

    from pipeline.capacity.forecast import build_forecast
    from schemas.config.analytics import CapacityConfig

    ts = 1.7e9 + np.arange(0, 7 * 86400, 300.0)
    ys = 50e9 + 1e9 * (ts - ts[0]) / 86400
    cc = CapacityConfig()

    def work() -> int:
        for _ in range(10):
            build_forecast(ts, ys, cc, series="s", name="disk", capacity=100e9)
        return 10

    return work


BUILTINS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("codec.decode", _codec_decode, 5, description="MetricBatch of 100 samples"),
        Benchmark("regressions.observe", _regression_observe, description="detector, per window"),
        Benchmark("anomalies.score", _anomaly_score, description="median/MAD, per window"),
        Benchmark("capacity.refit", _capacity_refit, description="7 days of 5-min points"),
    )
}


def from_command(name: str, command: str, iterations: int = 1) -> Benchmark:
    """A shell command; one run is one operation, a non-zero exit is an error."""
    argv = shlex.split(command)

    def make() -> Work:
        def work() -> int:
            proc = subprocess.run(
                argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if proc.returncode != 0:
                raise BenchmarkError(f"{command!r} exited with {proc.returncode}")
            return 1

        return work

    return Benchmark(name, make, iterations, "command", False, "latency_ms_p50", command)


def from_callable(name: str, target: str, iterations: int = 1) -> Benchmark:
    """``module:function``; returns its operation count (None = 1). Judged on throughput."""
    mod_name, _, attr = target.partition(":")
    if not mod_name or not attr:
        raise BenchmarkError(f"callable {target!r}: expected module:function")

    def make() -> Work:
        try:
            fn = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BenchmarkError(f"callable {target!r}: {exc}") from None
        return fn  # type: ignore[no-any-return]

    return Benchmark(name, make, iterations, "callable", True, "throughput_per_s", target)


def resolve(names: list[str], user: list[UserBenchmark]) -> list[Benchmark]:
    """The benchmarks to run: every one when ``names`` is empty; unknown names fail."""
    known = dict(BUILTINS)
    for u in user:
        if u.command is not None:
            known[u.name] = from_command(u.name, u.command, u.iterations)
        else:
            known[u.name] = from_callable(u.name, u.callable or "", u.iterations)
    if not names:
        return list(known.values())
    missing = [n for n in names if n not in known]
    if missing:
        raise BenchmarkError(f"unknown benchmark(s) {missing}; known: {sorted(known)}")
    return [known[n] for n in names]
