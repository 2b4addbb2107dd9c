"""The API's OpenAPI 3.1 description, built from the route table (so it cannot drift)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["describe"]

_QUERY = {
    "/api/v1/series": {
        "name": "metric name (required)", "host": "one host", "series": "one series id",
        "labels": "key=value,... filter", "field": "mean|max|min|last|sum|count|rate|p50|p95|p99",
        "start": "epoch seconds", "end": "epoch seconds (default now)",
        "range": "duration before end, e.g. 1h, 24h (default 1h)",
        "step": "seconds or duration; widened so no series has more than max_data_points",
    },
    "/api/v1/alerts": {
        "state": "active (default) or all", "severity": "filter", "host": "filter",
        "status": "firing or resolved (state=all)", "since": "epoch seconds (state=all)",
        "limit": "at most this many (state=all)",
    },
    "/api/v1/capacity": {"host": "filter", "history": "1: every forecast, not the latest"},
}  # fmt: skip
_FINDINGS = {"host": "filter", "subject": "filter", "since": "epoch seconds", "limit": "1..5000"}


def describe(routes: Sequence[Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{(\w+)}", route.path)]  # fmt: skip
        query = _QUERY.get(route.path)
        if query is None and route.path.endswith(("regressions", "anomalies", "benchmarks",
                                                  "deadletters")):  # fmt: skip
            query = _FINDINGS
        params += [{"name": k, "in": "query", "description": v, "schema": {"type": "string"}}
                   for k, v in (query or {}).items()]  # fmt: skip
        op: dict[str, Any] = {
            "summary": route.summary,
            "description": f"Needs the {route.role} role.",
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "bad parameter, with the reason"},
                "401": {"description": "no or unknown token"},
                "403": {"description": "role too low, or a change without its CSRF token"},
                "429": {"description": "rate limited (Retry-After)"},
            },
        }
        if route.method == "POST":
            op["requestBody"] = {"content": {"application/json": {"schema": {
                "type": "object", "required": ["subject"],
                "properties": {"subject": {"type": "string"}}}}}}  # fmt: skip
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Toka Performance dashboard API", "version": "1"},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "toka_session"},
            }
        },  # fmt: skip
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }
