"""Every panel of the Grafana dashboards on the remote-write series returns data from a
real Prometheus fed by the pipeline (Grafana itself is not installable here): each query
runs with its template variables substituted, as Grafana would send it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.pipeline.sinks.remote_write.rw_pipeline import Fed

DASHBOARDS = Path(__file__).resolve().parents[4] / "deploy" / "grafana" / "dashboards"
NAMES = ["toka-hosts", "toka-services", "toka-alerts", "toka-capacity"]

pytestmark = [pytest.mark.integration, pytest.mark.peers]


def _load(name: str) -> dict:
    return json.loads((DASHBOARDS / f"{name}.json").read_text())


def _values(fed: Fed) -> dict[str, str]:
    """What a user would pick in each variable for the fed data (multi-value: a regex)."""
    return {"host": fed.host, "window": "2s", "service": fed.service, "operation": ".*",
            "severity": ".*", "metric": ".*", "__rate_interval": "1m", "__interval": "2s",
            "__range": "1h"}  # fmt: skip


def _substitute(expr: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in values, f"unknown template variable ${name} in {expr}"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_is_well_formed(name: str) -> None:
    doc = _load(name)
    assert doc["uid"] == name and doc["panels"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for panel in doc["panels"]:
        assert panel["targets"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_query_returns_data(fed: Fed, name: str) -> None:
    values = _values(fed)
    doc = _load(name)
    at = max(a.window_end for a in fed.aggregates) + 1
    empty = []
    for panel in doc["panels"]:
        for target in panel["targets"]:
            expr = _substitute(target["expr"], values)
            if not fed.prometheus.query(expr, at=at):
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_query_offers_the_fed_values(fed: Fed, name: str) -> None:
    values = _values(fed)
    for var in _load(name)["templating"]["list"]:
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
        assert m, var["query"]
        selector, label = _substitute(m.group(1), values), m.group(2)
        found = fed.prometheus.api(f"/api/v1/label/{label}/values", **{"match[]": selector})
        assert found, f"variable {var['name']}: no values for {selector}"
        if var["name"] in ("host", "service", "window"):
            assert values[var["name"]] in found, (var["name"], found)
