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
    schema = msgspec.json.schema(RECORD_TYPES[name])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://toka.dev/schemas/{name}.json"
    return schema


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
