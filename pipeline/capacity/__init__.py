"""Capacity planning: downsampled history, trend models chosen by hold-out error, forecasts
with time to thresholds (pure core), and the Faust adapter in ``stage``."""
