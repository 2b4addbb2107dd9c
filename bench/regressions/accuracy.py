"""Regression detection accuracy on synthetic series: detection rate, delay, false positives.

    .venv/bin/python -m bench.regressions.accuracy [--trials 200] [--seed 7]

Prints a table and writes bench/results/regressions_accuracy.json. Every series is window
values (think window p95 latency) around 100 with Gaussian noise of the stated CV; the
detector runs with the default configuration (baseline 60 windows, current 5, p < 0.001,
effect >= 10%, CUSUM k=0.5 h=12).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
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
WARMUP = 110  # windows before the change: baseline (60) + 50 monitored windows
AFTER = 60


def _run(
    values: np.ndarray, params: DetectorParams, season: SeasonParams | None = None
) -> list[tuple[int, str]]:
    st = DetectorState()
    out = []
    for i, v in enumerate(values):
        if season is None:
            f = observe(st, float(v), "v1", float(i), params)
        else:
            f = observe_seasonal(st, float(v), "v1", float(i), p=params, sp=season)
        if f is not None:
            out.append((i, f.direction))
    return out


def _change_scenario(
    name: str,
    *,
    shape: Callable[[np.ndarray], np.ndarray],
    cv: float,
    trials: int,
    rng: np.random.Generator,
    params: DetectorParams,
    within: int,
) -> dict[str, object]:
    delays: list[int] = []
    detected_within = 0
    false_pos = 0
    monitored_pre = 0
    n = WARMUP + AFTER
    for _ in range(trials):
        t = np.arange(n)
        level = 100.0 * shape(np.clip(t - WARMUP, -1, None))
        values = level * (1.0 + cv * rng.standard_normal(n))
        flags = _run(values, params)
        false_pos += sum(1 for i, _ in flags if i < WARMUP)
        monitored_pre += WARMUP - params.baseline_windows
        hits = [i for i, d in flags if i >= WARMUP and d == "regression"]
        if hits:
            delay = hits[0] - WARMUP + 1
            delays.append(delay)
            detected_within += delay <= within
    return {
        "scenario": name,
        "noise_cv": cv,
        "trials": trials,
        "detected": len(delays) / trials,
        f"detected_within_{within}": detected_within / trials,
        "median_delay": float(np.median(delays)) if delays else math.nan,
        "p95_delay": float(np.percentile(delays, 95)) if delays else math.nan,
        "fp_per_1000": 1000.0 * false_pos / monitored_pre,
    }


def _noise_scenario(
    name: str,
    *,
    shape: Callable[[np.ndarray], np.ndarray],
    cv: float,
    series: int,
    length: int,
    rng: np.random.Generator,
    params: DetectorParams,
    season: SeasonParams | None = None,
    learn: int = 0,
) -> dict[str, object]:
    """False positives per 1,000 monitored windows; those after ``learn`` windows apart."""
    flags_total = flags_late = 0
    for _ in range(series):
        t = np.arange(length)
        values = 100.0 * shape(t) * (1.0 + cv * rng.standard_normal(length))
        flags = _run(values, params, season)
        flags_total += len(flags)
        flags_late += sum(1 for i, _ in flags if i >= learn)
    monitored = series * (length - params.baseline_windows)
    late = series * (length - max(learn, params.baseline_windows))
    return {
        "scenario": name,
        "noise_cv": cv,
        "trials": series,
        "windows": monitored,
        "fp_per_1000": 1000.0 * flags_total / monitored,
        "fp_per_1000_after_learning": 1000.0 * flags_late / late,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--noise-series", type=int, default=100)
    ap.add_argument("--noise-length", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    params = DetectorParams()
    pinned = DetectorParams(policy="pinned")
    t0 = time.perf_counter()
    rows: list[dict[str, object]] = []
    for cv in (0.05, 0.10):
        for step in (5, 10, 20, 50):
            rows.append(
                _change_scenario(
                    f"step +{step}%",
                    shape=lambda t, s=step: np.where(t >= 0, 1 + s / 100, 1.0),
                    cv=cv, trials=args.trials, rng=rng, params=params, within=5,
                )
            )  # fmt: skip
    for pol, pp in (("rolling", params), ("pinned", pinned)):
        rows.append(
            _change_scenario(
                f"drift +0.5%/window ({pol})",
                shape=lambda t: 1 + 0.005 * np.maximum(t, 0),
                cv=0.05, trials=args.trials, rng=rng, params=pp, within=40,
            )
        )  # fmt: skip
    noise: list[dict[str, object]] = []
    for cv in (0.05, 0.10, 0.20):
        noise.append(
            _noise_scenario(
                "stationary", shape=lambda t: np.ones_like(t, dtype=float), cv=cv,
                series=args.noise_series, length=args.noise_length, rng=rng, params=params,
            )
        )  # fmt: skip
    period = 144
    noise.append(
        _noise_scenario(
            "seasonal ±10%, season removed",
            shape=lambda t: 1 + 0.1 * np.sin(2 * np.pi * t / period), cv=0.05,
            series=args.noise_series, length=args.noise_length, rng=rng, params=params,
            season=SeasonParams(periods_s=(float(period),)),
            learn=2 * period + params.baseline_windows,
        )
    )  # fmt: skip
    noise.append(
        _noise_scenario(
            "seasonal ±10%, period 144",
            shape=lambda t: 1 + 0.1 * np.sin(2 * np.pi * t / 144), cv=0.05,
            series=args.noise_series, length=args.noise_length, rng=rng, params=params,
        )
    )  # fmt: skip
    elapsed = time.perf_counter() - t0

    print(f"{'scenario':34} {'cv':>5} {'detected':>9} {'<=5 win':>8} {'med delay':>9} "
          f"{'p95 delay':>9} {'FP/1000':>8}")  # fmt: skip
    for r in rows:
        within = r.get("detected_within_5", r.get("detected_within_40"))
        print(
            f"{r['scenario']:34} {r['noise_cv']:>5.2f} {r['detected']:>9.1%} "
            f"{within:>8.1%} {r['median_delay']:>9.1f} {r['p95_delay']:>9.1f} "
            f"{r['fp_per_1000']:>8.2f}"
        )
    print()
    print(f"{'no change':34} {'cv':>5} {'windows':>9} {'FP/1000':>8} {'after learning':>15}")
    for r in noise:
        print(f"{r['scenario']:34} {r['noise_cv']:>5.2f} {r['windows']:>9} "
              f"{r['fp_per_1000']:>8.3f} {r['fp_per_1000_after_learning']:>15.3f}")  # fmt: skip
    print("\n(drift rows: '<=5 win' is detection within 40 windows; 'after learning' counts the")
    print(f"windows after two cycles + a baseline, when a season can be known; {elapsed:.1f}s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"params": params.__repr__(), "changes": rows, "no_change": noise, "seconds": elapsed},
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
