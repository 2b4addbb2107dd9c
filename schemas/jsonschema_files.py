"""JSON Schema files for outside consumers, generated from the record types.

``python -m schemas.jsonschema_files`` rewrites ``schemas/json/``; a test checks they are current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from schemas.codec import RECORD_TYPES

__all__ = ["JSON_DIR", "load", "schema_for", "write_all"]

JSON_DIR = Path(__file__).parent / "json"


def schema_for(name: str) -> dict[str, Any]:
    schema = _normalise_prose(msgspec.json.schema(RECORD_TYPES[name]))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://toka.dev/schemas/{name}.json"
    return schema


def _normalise_prose(node: Any) -> Any:
    """Folds white space in descriptions and titles: msgspec releases differ in how they dedent
    docstrings, and no reader cares; everything else is compared exactly."""
    if isinstance(node, dict):
        return {
            key: " ".join(value.split())
            if key in _PROSE_KEYS and isinstance(value, str)
            else _normalise_prose(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_normalise_prose(item) for item in node]
    return node


_PROSE_KEYS = frozenset({"description", "title"})


def load(name: str) -> dict[str, Any]:
    return json.loads((JSON_DIR / f"{name}.json").read_text())


def write_all() -> list[Path]:
    JSON_DIR.mkdir(exist_ok=True)
    paths = []
    for name in RECORD_TYPES:
        path = JSON_DIR / f"{name}.json"
        path.write_text(json.dumps(schema_for(name), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all():
        print(p)
