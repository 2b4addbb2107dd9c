"""Non-finite numbers in emitted records: JSON has none, so give every value a JSON form.

msgspec (like orjson) writes NaN and infinities as ``null``, which the JSON Schema of a
required number refuses. Inputs cannot carry them (JSON has no literal for them); they
come from arithmetic that overflows, e.g. the sum of two samples of 1e308. The rule here:

- an infinity saturates to the largest finite double of its sign (1.7976931348623157e308).
  Every comparison a rule, detector or consumer makes against a real threshold still
  comes out as it would for the true value, and the record keeps its other statistics;
- a NaN (an overflow in both directions, inf - inf) has no direction to saturate to: an
  optional field becomes None (left out), as when the statistic is undefined;
- a NaN where a value is required has no valid form: ``finite`` raises NonFiniteError with
  the path, so the emitting stage's error policy counts and dead-letters it.
"""

from __future__ import annotations

import math
import sys
from typing import Any, TypeVar

import msgspec

from schemas.errors import NonFiniteError

__all__ = ["LARGEST", "finite"]

#: What +inf becomes (-inf: its negative).
LARGEST = sys.float_info.max

T = TypeVar("T")

_SAME: Any = object()
#: struct type -> names of its fields whose default is None (a NaN there is left out)
_OPTIONAL: dict[type, frozenset[str]] = {}


class _NaN(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def finite(record: T) -> T:
    """``record`` with every value given a JSON form (module docstring); the same object
    when it had nothing to change."""
    try:
        fixed = _fix(record, "$")
    except _NaN as nan:
        raise NonFiniteError(nan.path) from None
    return record if fixed is _SAME else fixed


def _fix(value: Any, path: str) -> Any:
    t = type(value)
    if t is float:
        if math.isfinite(value):
            return _SAME
        if math.isnan(value):
            raise _NaN(path)
        return LARGEST if value > 0 else -LARGEST
    if isinstance(value, msgspec.Struct):
        return _fix_struct(value, path)
    if t is list or t is tuple:
        items = [_fix(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if all(v is _SAME for v in items):
            return _SAME
        return t(old if new is _SAME else new for old, new in zip(value, items, strict=True))
    if t is dict:
        changes = {k: new for k, v in value.items() if (new := _fix(v, f"{path}.{k}")) is not _SAME}
        return {**value, **changes} if changes else _SAME
    return _SAME


def _fix_struct(value: msgspec.Struct, path: str) -> Any:
    changes: dict[str, Any] = {}
    for name in value.__struct_fields__:
        try:
            new = _fix(getattr(value, name), f"{path}.{name}")
        except _NaN:
            if name not in _optional(type(value)):
                raise
            new = None
        if new is not _SAME:
            changes[name] = new
    return msgspec.structs.replace(value, **changes) if changes else _SAME


def _optional(t: type) -> frozenset[str]:
    names = _OPTIONAL.get(t)
    if names is None:
        names = _OPTIONAL[t] = frozenset(
            f.name for f in msgspec.structs.fields(t) if f.default is None
        )
    return names
