"""What the Alertmanager sink sends: the POST body for an Alert, and the set of active
alerts it must re-send, held in a plain mapping (a changelogged table in the worker).

Alertmanager identifies an alert by its label set, so the active set is keyed by a digest
of the labels. A firing alert is sent with ``endsAt`` a few resend intervals ahead, as
Prometheus does: if the pipeline dies, Alertmanager resolves it by itself instead of
keeping it forever.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from pipeline.alerts.engine import iso
from pipeline.alerts.grouping import digest
from schemas.records import Alert

__all__ = ["ENDS_AT_RESENDS", "active_payloads", "alert_key", "payload", "record"]

#: A firing alert stays valid for this many resend intervals without news (Prometheus: 4).
ENDS_AT_RESENDS = 4


def alert_key(labels: Mapping[str, str]) -> str:
    return digest(sorted(labels.items()))


def payload(alert: Alert, now: float, resend_seconds: float) -> dict[str, Any]:
    """The body item of ``POST /api/v2/alerts`` for one alert state change."""
    ends = (
        alert.endsAt if alert.status == "resolved" else iso(now + ENDS_AT_RESENDS * resend_seconds)
    )
    out = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": alert.startsAt,
        "endsAt": ends,
    }
    if alert.generatorURL:
        out["generatorURL"] = alert.generatorURL
    return out


def record(states: MutableMapping[str, Any], alert: Alert) -> None:
    """Keep a firing alert for re-sending; forget it once resolved (assignments only)."""
    key = alert_key(alert.labels)
    if alert.status == "firing":
        states[key] = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": alert.startsAt,
            "generatorURL": alert.generatorURL,
        }
    elif key in states:
        del states[key]


def active_payloads(
    states: Mapping[str, Any], now: float, resend_seconds: float
) -> list[dict[str, Any]]:
    """Every active alert again, with a fresh ``endsAt``."""
    ends = iso(now + ENDS_AT_RESENDS * resend_seconds)
    out = []
    for st in states.values():
        item = {k: st[k] for k in ("labels", "annotations", "startsAt")}
        item["endsAt"] = ends
        if st.get("generatorURL"):
            item["generatorURL"] = st["generatorURL"]
        out.append(item)
    return out
