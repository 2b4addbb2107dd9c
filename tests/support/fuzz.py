"""Property-based input fuzzing: valid documents with one part replaced, removed or added.

Mutating a valid document reaches far deeper into a decoder than random bytes do (every
field of every nested object gets its turn at a wrong type, a missing key or a stranger).
``TOKA_FUZZ_EXAMPLES`` sets the examples per property: 200 in CI, 10,000 by hand:

    TOKA_FUZZ_EXAMPLES=10000 .venv/bin/pytest -q -m fuzz --timeout 0
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["FUZZ", "json_documents", "json_values", "mutated"]

FUZZ = settings(
    max_examples=int(os.environ.get("TOKA_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

_SCALARS = (
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=12)
)  # fmt: skip


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value (NaN, infinities and integers past 64 bits included)."""
    return st.recursive(
        _SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three places replaced, removed or given a new sibling."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        if not path:
            doc = draw(json_values())
            continue
        *parent_path, last = path
        parent = doc
        for step in parent_path:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[last] = draw(json_values())
        elif action == "remove":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values())
        else:
            parent.append(draw(json_values()))
    return doc


def json_documents(document: Any) -> st.SearchStrategy[bytes]:
    """Bytes of mutated ``document``s, written by the standard library (so NaN and huge
    integers reach the decoder as such), plus a few arbitrary byte strings."""
    as_bytes = mutated(document).map(lambda doc: json.dumps(doc).encode())
    return as_bytes | st.binary(max_size=64)
