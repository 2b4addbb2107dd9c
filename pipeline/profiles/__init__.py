"""Analysis of profiling reports: bottlenecks, functions that became hot, leak suspects.

The pure core (``analysis``) is what the profiles stage calls once per ProfileReport read
from ``toka.profiles``; it keeps per service the function shares of the last CPU session
as a small JSON-able state.
"""

from pipeline.profiles.analysis import ProfileBaselines, analyse

__all__ = ["ProfileBaselines", "analyse"]
