"""The shipped JSON Schema files are the ones generated from the record types."""

from __future__ import annotations

import json

from schemas import RECORD_TYPES
from schemas.jsonschema_files import JSON_DIR, schema_for


def test_every_record_type_has_a_current_schema_file() -> None:
    for name in RECORD_TYPES:
        path = JSON_DIR / f"{name}.json"
        assert path.exists(), f"{path} missing: run python -m schemas.jsonschema_files"
        assert json.loads(path.read_text()) == schema_for(name), (
            f"{path} is stale: run python -m schemas.jsonschema_files"
        )


def test_prose_white_space_is_folded_and_nothing_else_is() -> None:
    from schemas.jsonschema_files import _normalise_prose

    reindented = {
        "description": "Line one.\n    Line two.",
        "properties": {"x": {"type": "integer"}},
    }
    assert _normalise_prose(reindented) == {
        "description": "Line one. Line two.",
        "properties": {"x": {"type": "integer"}},
    }
    reworded = _normalise_prose({"description": "Line one. Line 2."})
    assert reworded != _normalise_prose(reindented)
