"""Capacity forecast accuracy: the chosen model against a plain linear fit (Prometheus'
``predict_linear``: least squares over the same history) at the 30-day horizon.

    .venv/bin/python -m bench.capacity.accuracy [--trials 20] [--seed 3]

Synthetic series: 60 days of 5-minute points with 1% noise, forecast 30 days past the last
point, error against the noise-free truth. Real series: statsmodels' ``co2`` (Mauna Loa,
weekly, 1958-2001; gaps interpolated): 10 years of history, forecast 4 weeks (28 days)
ahead, error against the observed value; 40 forecast origins spread over the record.
Error is the mean absolute percentage error. Writes bench/results/capacity_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.capacity.forecast import build_forecast, detect_season, select_model
from pipeline.capacity.models import fit_linear
from schemas.config.analytics import CapacityConfig

RESULTS = Path(__file__).resolve().parents[1] / "results" / "capacity_accuracy.json"
DAY = 86400.0
HISTORY_DAYS, HORIZON_DAYS = 60, 30

SHAPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda d: 50 + 0.5 * d,
    "exponential": lambda d: 20 * np.exp(0.02 * d),
    "saturating": lambda d: 100 * (1 - np.exp(-d / 40)),
    "seasonal (daily)": lambda d: 50 + 0.3 * d + 10 * np.sin(2 * np.pi * d),
}


def _synthetic(name: str, trials: int, rng: np.random.Generator) -> dict[str, object]:
    fn = SHAPES[name]
    cc = CapacityConfig()
    ts = 1.7e9 + np.arange(0, HISTORY_DAYS * DAY, 300.0)
    d = (ts - ts[0]) / DAY
    chosen_err, linear_err, models = [], [], []
    for _ in range(trials):
        # a random phase, so the seasonal case is not always judged at the same hour
        shift = rng.uniform(0, 1)
        ys = fn(d + shift) * (1 + 0.01 * rng.standard_normal(d.size))
        fc = build_forecast(ts, ys, cc, series="s", name=name)
        assert fc is not None
        truth = float(fn(np.array([d[-1] + HORIZON_DAYS + shift]))[0])
        chosen = next(p.value for p in fc.forecasts if p.horizon_days == HORIZON_DAYS)
        lin = fit_linear(d, ys)
        lin_pred = float(lin.predict(np.array([d[-1] + HORIZON_DAYS]))[0][0])
        chosen_err.append(abs(chosen - truth) / abs(truth) * 100)
        linear_err.append(abs(lin_pred - truth) / abs(truth) * 100)
        models.append(fc.model)
    return _row(name, chosen_err, linear_err, models)


def _co2(origins: int) -> dict[str, object]:
    from statsmodels.datasets import co2

    y_all = co2.load_pandas().data["co2"].interpolate().bfill().to_numpy()
    hist, ahead = 520, 4  # 10 years of weeks; 4 weeks = 28 days
    starts = np.linspace(0, y_all.size - hist - ahead - 1, origins).astype(int)
    chosen_err, linear_err, models = [], [], []
    for s in starts:
        y = y_all[s : s + hist]
        t = np.arange(hist) * 7.0  # days
        truth = float(y_all[s + hist - 1 + ahead])
        sel = select_model(t, y, detect_season(y, [52]))
        assert sel is not None
        t_f = np.array([t[-1] + 7.0 * ahead])
        chosen = float(sel.model.predict(t_f)[0][0])
        lin_pred = float(fit_linear(t, y).predict(t_f)[0][0])
        chosen_err.append(abs(chosen - truth) / truth * 100)
        linear_err.append(abs(lin_pred - truth) / truth * 100)
        models.append(sel.name)
    return _row("co2 (statsmodels, 28 d)", chosen_err, linear_err, models)


def _row(
    name: str, chosen: list[float], linear: list[float], models: list[str]
) -> dict[str, object]:
    c, lin = float(np.mean(chosen)), float(np.mean(linear))
    picks = {m: models.count(m) for m in sorted(set(models))}
    return {"series": name, "trials": len(chosen), "chosen_mape": c, "linear_mape": lin,
            "ratio": c / lin if lin else float("nan"), "models": picks}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--origins", type=int, default=40)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    rows = [_synthetic(name, args.trials, rng) for name in SHAPES]
    rows.append(_co2(args.origins))
    elapsed = time.perf_counter() - t0
    print(f"{'series':26} {'n':>4} {'chosen MAPE':>12} {'linear MAPE':>12} {'ratio':>7}  models")
    for r in rows:
        print(f"{r['series']:26} {r['trials']:>4} {r['chosen_mape']:>11.3f}% "
              f"{r['linear_mape']:>11.3f}% {r['ratio']:>7.3f}  {r['models']}")  # fmt: skip
    print(
        f"\n(target: ratio <= 0.5 where growth is not linear, <= 1.0 where it is; {elapsed:.1f}s)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "seconds": elapsed}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
