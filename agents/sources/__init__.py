"""Sources: one module per source, each a small collector with ``collect() -> samples``."""

from agents.sources.base import Source, SourceRegistry

__all__ = ["Source", "SourceRegistry"]
