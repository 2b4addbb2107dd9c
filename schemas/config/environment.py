"""``TOKA_<SECTION>__<KEY>`` environment overrides, as nested configuration data.

Written here rather than taken from pydantic-settings: that package loads every settings
source it has (cloud secret stores, CLI, dotenv) and costs the agent about 12 MB of RSS
at import, a quarter of its memory budget, for the one source we use. Same rules: names
are case-insensitive, nested keys are joined with ``__``, a value for a list, mapping or
block is JSON (``TOKA_PIPELINE__WINDOW_SECONDS='[10, 60]'``), any other value is given to
validation as the string it is; names whose first part is not a section are ignored
(``TOKA_CONFIG`` names the file), a wrong key inside a section is an unknown key.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["environment_overrides", "merge"]

PREFIX = "TOKA_"


def environment_overrides(model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.upper().startswith(PREFIX):
            continue
        path = name[len(PREFIX) :].lower().split("__")
        if path[0] not in model.model_fields or not all(path):
            continue
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = _value(model, path, raw)
    return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins, mapping by mapping."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _value(model: type[BaseModel], path: list[str], raw: str) -> Any:
    annotation: Any = None
    current: type[BaseModel] | None = model
    for part in path:
        field = current.model_fields.get(part) if current is not None else None
        if field is None:
            return raw  # not a known key: validation names it
        annotation = field.annotation
        current = _block(annotation)
    if _structured(annotation):
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # validation says what was expected
    return raw


def _block(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _structured(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_structured(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin is typing.Annotated:
        return _structured(typing.get_args(annotation)[0])
    if origin in (list, dict, set, tuple, frozenset):
        return True
    return _block(annotation) is not None
