"""Regression detection accuracy per family of series: detection rate, delay, false positives.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.regressions.accuracy \\
        [--trials 200] [--noise-series 100] [--noise-length 1000] [--cycle-trials 20]
        [--cycle-length 600] [--seed 7] [--families a,b]

Every series is window values (think window p95 latency) around 100 with Gaussian noise;
families draw their parameters at random per trial. The detector runs with the default
configuration (baseline 60 windows, current 5, p < 0.001, effect >= 10%, drift CUSUM k=0.5
h=12, step CUSUM). Series that cycle run through ``observe_seasonal`` with a cycle of
144 windows (24 buckets), as the stage runs them, from their first window; the others
through ``observe``: the detector once warm-up has shown there is no cycle (the issue's
targets are "after warm-up"; warm-up costs a robust STL fit per bucket, too slow for
thousands of trials here).

Change families (a change after a baseline and 50 monitored windows): the issue's target
steps (+20% at 5% and at 10% noise), random steps and drops, heavy noise, slow drifts,
and a step on a daily cycle once it is learned. No-change families: stationary noise,
periodic batch bursts, a daily cycle from the series' first window (its warm-up
included). Targets (issue 17), printed met/not met: +20% at 5% noise within 5 windows in
>= 95% of cases, at 10% within 10 in >= 95%; at most 1 false positive per 1,000 windows
on stationary and seasonal series. Writes bench/results/regressions_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.regressions.detector import (
    DetectorParams,
    DetectorState,
    SeasonParams,
    observe,
    observe_seasonal,
)

RESULTS = Path(__file__).resolve().parents[1] / "results" / "regressions_accuracy.json"
WARMUP = 110  # windows before a change: baseline (60) + 50 monitored windows
PERIOD = 144  # windows per cycle: two cycles are learned before the season is known
#: 24 buckets a cycle, not the stage's 48: a robust STL refit per bucket close is most of
#: this bench's time (~0.1 s each on this machine) and the bucket count does not change
#: what is measured here (when a cycle is known, not how finely).
SEASON = SeasonParams(periods_s=(float(PERIOD),), per_period=24)
Gen = np.random.Generator
#: (values, index of the change or None, cv) from a random generator
Series = Callable[[Gen, int], tuple[np.ndarray, int | None]]


@dataclass(frozen=True)
class Family:
    name: str
    make: Series
    length: int
    within: int | None = None  # target: detected within this many windows...
    rate: float | None = None  # ...in at least this share of trials
    fp_target: bool = False  # at most 1 false positive per 1,000 windows
    direction: str = "regression"
    cycles: bool = False  # run as on a series whose cycle is being learned


def _noise(r: Gen, n: int, cv: float) -> np.ndarray:
    return 1.0 + cv * r.standard_normal(n)


def _step(size: float | tuple[float, float], cv: float | tuple[float, float]) -> Series:
    def make(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
        s = size if isinstance(size, float) else r.uniform(*size)
        c = cv if isinstance(cv, float) else r.uniform(*cv)
        level = np.where(np.arange(n) >= WARMUP, 1 + s, 1.0)
        return 100 * level * _noise(r, n, c), WARMUP

    return make


def _drift(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
    rate = r.uniform(0.003, 0.01)
    level = 1 + rate * np.maximum(np.arange(n) - WARMUP + 1, 0)
    return 100 * level * _noise(r, n, 0.05), WARMUP


def _stationary(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
    return 100 * _noise(r, n, r.uniform(0.02, 0.2)), None


def _bursts(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
    """A batch job every 30-100 windows lifts 1-2 windows by 20-50%: not a regression."""
    every, width, lift = r.integers(30, 101), r.integers(1, 3), r.uniform(0.2, 0.5)
    t = np.arange(n) + r.integers(0, every)
    return 100 * (1 + lift * (t % every < width)) * _noise(r, n, 0.05), None


def _cycle(r: Gen, n: int) -> np.ndarray:
    amp, phase = r.uniform(0.05, 0.15), r.uniform(0, 2 * np.pi)
    return 1 + amp * np.sin(2 * np.pi * np.arange(n) / PERIOD + phase)


def _seasonal(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
    return 100 * _cycle(r, n) * _noise(r, n, 0.05), None


def _seasonal_step(r: Gen, n: int) -> tuple[np.ndarray, int | None]:
    at = 2 * PERIOD + 60 + WARMUP  # learned, re-baselined, 50 monitored windows
    level = np.where(np.arange(n) >= at, 1.25, 1.0)
    return 100 * _cycle(r, n) * level * _noise(r, n, 0.03), at


FAMILIES = [
    Family("step +20%, 5% noise", _step(0.2, 0.05), WARMUP + 60, 5, 0.95),
    Family("step +20%, 10% noise", _step(0.2, 0.10), WARMUP + 60, 10, 0.95),
    Family("step +15..50%, 3..10% noise", _step((0.15, 0.5), (0.03, 0.10)), WARMUP + 60, 10),
    Family("drop -15..40% (cleanup)", _step((-0.4, -0.15), 0.05), WARMUP + 60, 10,
           direction="improvement"),
    Family("heavy noise: +40%, 20% noise", _step(0.4, 0.20), WARMUP + 60, 10),
    Family("drift +0.3..1%/window", _drift, WARMUP + 80, 40),
    Family("step +25% on a learned cycle", _seasonal_step, 2 * PERIOD + 60 + WARMUP + 40, 5,
           cycles=True),
    Family("stationary, 2..20% noise", _stationary, 0, fp_target=True),
    Family("periodic batch bursts", _bursts, 0, fp_target=True),
    Family("seasonal, warm-up included", _seasonal, 0, fp_target=True, cycles=True),
]  # fmt: skip


def _flags(values: np.ndarray, params: DetectorParams, cycles: bool) -> list[tuple[int, str]]:
    st = DetectorState()
    out = []
    for i, v in enumerate(values):
        if cycles:
            f = observe_seasonal(st, float(v), "v1", float(i), p=params, sp=SEASON)
        else:
            f = observe(st, float(v), "v1", float(i), params)
        if f is not None:
            out.append((i, f.direction))
    return out


def _family(f: Family, trials: int, length: int, rng: Gen, params: DetectorParams) -> dict:
    n = f.length or length
    delays: list[int] = []
    false_pos = monitored = 0
    early_fp = 0  # false positives in the first two cycles (warm-up)
    for _ in range(trials):
        values, at = f.make(rng, n)
        flags = _flags(values, params, f.cycles)
        end = n if at is None else at
        false_pos += sum(1 for i, _ in flags if i < end)
        early_fp += sum(1 for i, _ in flags if i < min(end, 2 * PERIOD))
        monitored += max(end - params.baseline_windows, 0)
        if at is not None:
            hits = [i for i, d in flags if i >= at and d == f.direction]
            if hits:
                delays.append(hits[0] - at + 1)
    fp = 1000.0 * false_pos / max(monitored, 1)
    row: dict[str, object] = {
        "family": f.name, "trials": trials, "windows": monitored,
        "fp_per_1000": fp, "fp_in_warmup": early_fp,
    }  # fmt: skip
    met: dict[str, bool] = {}
    if f.within is not None:
        within = sum(d <= f.within for d in delays) / trials
        row |= {
            "detected": len(delays) / trials, "within": f.within, "detected_within": within,
            "median_delay": float(np.median(delays)) if delays else math.nan,
            "p95_delay": float(np.percentile(delays, 95)) if delays else math.nan,
        }  # fmt: skip
        if f.rate is not None:
            met["detection"] = within >= f.rate
    if f.fp_target:
        met["false_positives"] = fp <= 1.0
    row["met"] = met
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--noise-series", type=int, default=100)
    ap.add_argument("--noise-length", type=int, default=1000)
    ap.add_argument("--cycle-trials", type=int, default=20, help="trials of cycling families")
    ap.add_argument("--cycle-length", type=int, default=600)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--families", default="", help="comma-separated name prefixes")
    args = ap.parse_args()
    wanted = [w for w in args.families.split(",") if w]
    families = [f for f in FAMILIES if not wanted or any(f.name.startswith(w) for w in wanted)]
    rng = np.random.default_rng(args.seed)
    params = DetectorParams()
    t0 = time.perf_counter()
    rows = []
    for f in families:
        if f.cycles:
            n, length = args.cycle_trials, args.cycle_length
        else:
            n, length = args.noise_series if f.fp_target else args.trials, args.noise_length
        rows.append(_family(f, n, length, rng, params))
    elapsed = time.perf_counter() - t0
    print(f"{'family':32} {'n':>4} {'detected':>8} {'within':>10} {'med':>4} {'p95':>4} "
          f"{'FP/1000':>8} {'warm-up FP':>10}  target")  # fmt: skip
    for r in rows:
        det = f"{r['detected']:.1%}" if "detected" in r else "-"
        within = f"{r['detected_within']:.1%}/{r['within']}" if "within" in r else "-"
        med = f"{r['median_delay']:.0f}" if "median_delay" in r else "-"
        p95 = f"{r['p95_delay']:.0f}" if "p95_delay" in r else "-"
        met = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in r["met"].items())
        print(f"{r['family']:32} {r['trials']:>4} {det:>8} {within:>10} {med:>4} {p95:>4} "
              f"{r['fp_per_1000']:>8.3f} {r['fp_in_warmup']:>10}  {met or '-'}")  # fmt: skip
    print("\nwithin: share detected within the stated number of windows of the change; med/p95:"
          "\ndelay in windows; FP/1000: findings per 1,000 monitored windows before any change;"
          f"\nwarm-up FP: of those, in the first two cycles ({2 * PERIOD} windows)."
          f" ({elapsed:.0f}s)")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"params": repr(params), "families": rows,
                                   "seconds": elapsed}, indent=2))  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
