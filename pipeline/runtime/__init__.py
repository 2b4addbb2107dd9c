"""The stage runtime: what every stage needs, written once (see windowed_runtime.py for
the windows and spans stages, analytics_runtime.py for the analytics loop, context.py for
the typed wiring ``create_app`` hands each stage)."""

from pipeline.runtime.context import StageContext, Topics
from pipeline.runtime.guard import ProcessingGuard
from pipeline.runtime.progress import Progress, Stall

__all__ = ["ProcessingGuard", "Progress", "Stall", "StageContext", "Topics"]
