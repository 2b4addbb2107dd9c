"""Windows stage: event-time window aggregation (pure core), its per-partition logic
(logic.py) and its wiring to the stage runtime (stage.py)."""

from pipeline.windows.core import WindowStore, series_id
from pipeline.windows.sketch import DDSketch

__all__ = ["DDSketch", "WindowStore", "series_id"]
