"""Regression detection: baselines per series and benchmark, rank test + CUSUM (pure core),
and the Faust adapter in ``stage``."""
