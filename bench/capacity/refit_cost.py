"""Cost of the scheduled capacity refit: N series on one core, as the stage's timer runs it.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.capacity.refit_cost \
        [--series 10000] [--seasonal-share 0.1]

Each series has 90 days of 5-minute points (25,920, the default retention), a fifth each
linear, exponential and saturating growth, a cleanup (a drop 10-60 days ago) and a speed-up
(the rate doubled 7-20 days ago), the last two refitted on their new regime; a share of
them also carries a daily cycle, so Holt-Winters is fitted for those (the expensive case).
Times ``build_forecast`` (resample, season detection, change-point search, every candidate
on the hold-out, the winner on everything, horizons, threshold crossings) in one thread,
as ``fit_all`` in the stage does; reading history from the table is not included. Prints
per-kind cost and the total, plus an all-cyclical worst case measured on a subset and
extrapolated (said so).
Writes bench/results/capacity_refit_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from pipeline.capacity.forecast import build_forecast
from schemas.config.analytics import CapacityConfig

RESULTS = Path(__file__).resolve().parents[1] / "results" / "capacity_refit_cost.json"
DAY = 86400.0


def _series(rng: np.random.Generator, seasonal: bool, ts: np.ndarray) -> np.ndarray:
    """Trend-only series are a fifth each linear, exponential, saturating, cleanup and
    speed-up."""
    d = (ts - ts[0]) / DAY
    shape = rng.integers(5)
    if shape == 0:
        base = rng.uniform(20e9, 60e9) + rng.uniform(0.05e9, 1e9) * d
    elif shape == 1:
        base = rng.uniform(5e9, 20e9) * np.exp(rng.uniform(0.005, 0.02) * d)
    elif shape == 2:
        base = rng.uniform(50e9, 90e9) * (1 - np.exp(-d / rng.uniform(20, 60)))
    elif shape == 3:
        rate, at = rng.uniform(0.1e9, 0.5e9), 90 - rng.uniform(10, 60)
        base = rng.uniform(30e9, 50e9) + rate * d - rng.uniform(10e9, 20e9) * (d >= at)
    else:
        rate, at = rng.uniform(0.1e9, 0.3e9), 90 - rng.uniform(7, 20)
        base = rng.uniform(20e9, 40e9) + rate * d + rate * np.maximum(d - at, 0)
    if seasonal:
        base = base + rng.uniform(1e9, 5e9) * np.sin(2 * np.pi * (d + rng.uniform(0, 1)))
    return base * (1 + 0.005 * rng.standard_normal(d.size))


def _time(
    n: int, seasonal: bool, rng: np.random.Generator, ts: np.ndarray, *, warm: bool = False
) -> tuple[float, dict]:
    """Seconds spent in ``n`` refits. ``warm``: a second refit of each series, with the
    weights cache the stage keeps from the first (the steady state of hourly refits)."""
    cc = CapacityConfig()
    models: dict[str, int] = {}
    spent = 0.0
    regimes = 0
    for _ in range(n):
        ys = _series(rng, seasonal, ts)  # generated outside the timed region
        cache: dict = {}
        if warm:
            build_forecast(ts[:-12], ys[:-12], cc, series="s", name="disk", cache=cache)
        t0 = time.perf_counter()
        fc = build_forecast(ts, ys, cc, series="s", name="disk", capacity=100e9, cache=cache)
        spent += time.perf_counter() - t0
        assert fc is not None
        models[fc.model] = models.get(fc.model, 0) + 1
        regimes += fc.regime_start is not None
    models["(regime fits)"] = regimes
    return spent, models


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--seasonal-share", type=float, default=0.1)
    ap.add_argument("--worst-case-sample", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    ts = 1.7e9 + np.arange(0, 90 * DAY, 300.0)
    build_forecast(ts, _series(rng, True, ts), CapacityConfig(), series="w", name="w")  # imports
    n_seasonal = int(round(args.series * args.seasonal_share))
    n_plain = args.series - n_seasonal
    plain_s, plain_models = _time(n_plain, False, rng, ts)
    seas_s, seas_models = _time(n_seasonal, True, rng, ts)
    total = plain_s + seas_s
    k = args.worst_case_sample
    worst_s, _ = _time(k, True, rng, ts)
    worst_total = worst_s / k * args.series
    warm_s, _ = _time(k, True, rng, ts, warm=True)
    warm_total = warm_s / k * args.series
    rows = [
        {"kind": "trend only", "series": n_plain, "seconds": plain_s,
         "ms_per_series": plain_s / max(n_plain, 1) * 1000, "models": plain_models},
        {"kind": "daily cycle", "series": n_seasonal, "seconds": seas_s,
         "ms_per_series": seas_s / max(n_seasonal, 1) * 1000, "models": seas_models},
    ]  # fmt: skip
    print(f"refit of {args.series} series x 90 days of 5-min points, one thread, "
          f"{os.cpu_count()} CPUs on the machine")  # fmt: skip
    print(f"{'kind':14} {'series':>7} {'seconds':>9} {'ms/series':>10}  models")
    for r in rows:
        print(f"{r['kind']:14} {r['series']:>7} {r['seconds']:>9.1f} "
              f"{r['ms_per_series']:>10.2f}  {r['models']}")  # fmt: skip
    print(f"{'total':14} {args.series:>7} {total:>9.1f}   (budget 300 s)")
    print(f"worst case, every series cyclical: {worst_s / k * 1000:.1f} ms/series measured on "
          f"{k}, extrapolated to {args.series}: {worst_total:.0f} s")  # fmt: skip
    print(f"  same, steady state (weights cached, re-optimised every 24th refit): "
          f"{warm_s / k * 1000:.1f} ms/series, extrapolated: {warm_total:.0f} s")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "series": args.series, "seasonal_share": args.seasonal_share, "rows": rows,
        "total_seconds": total, "worst_case_sample": k,
        "worst_case_extrapolated_seconds": worst_total,
        "worst_case_steady_state_extrapolated_seconds": warm_total,
    }, indent=2))  # fmt: skip
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
