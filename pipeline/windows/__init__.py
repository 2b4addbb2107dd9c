"""Windows stage: event-time window aggregation (pure core) and its Faust adapter (stage.py)."""

from pipeline.windows.core import WindowStore, series_id
from pipeline.windows.sketch import DDSketch

__all__ = ["DDSketch", "WindowStore", "series_id"]
