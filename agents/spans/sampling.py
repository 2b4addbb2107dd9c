"""Head sampling by trace id, so every span of a trace gets the same answer on every host.

The rule is OpenTelemetry's TraceIdRatioBased: keep when the low 64 bits of the trace id
are below ``rate * 2**64``. SDKs using ``sdk_sampler(rate)`` (parent-based around that
ratio) and the agent's receiver therefore agree: a trace is kept or dropped as a whole.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TraceSampler", "sdk_sampler"]

_MASK64 = (1 << 64) - 1


class TraceSampler:
    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {rate}")
        self.rate = rate
        self._bound = round(rate * (1 << 64))

    def keep_hex(self, trace_id: str) -> bool:
        """``trace_id`` as 32 hex digits."""
        return self.rate >= 1.0 or int(trace_id[-16:] or "0", 16) < self._bound

    def keep_bytes(self, trace_id: bytes) -> bool:
        return self.rate >= 1.0 or int.from_bytes(trace_id[-8:], "big") & _MASK64 < self._bound


def sdk_sampler(rate: float) -> Any:
    """The sampler to give a Python service's TracerProvider: parent-based, trace-id ratio."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    return ParentBased(TraceIdRatioBased(rate))
