"""The rule set: routes window aggregates to rules, runs each instance's state machine and
turns changes of the notified state into Alert records. Pure: the caller owns the state
mapping (a Faust table in the worker, a dict in tests) and the clock.

State keys: ``a|<fingerprint>`` per rule instance, ``g|...`` per open alert group. Instances
with nothing going on are deleted, so the table holds only pending, firing, flapping or
watched (absence, half-joined ratio) instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from pipeline.alerts.findings import evaluate_finding
from pipeline.alerts.grouping import digest, expire_groups, group_key
from pipeline.alerts.machine import advance, effective_rank, new_state, observe
from pipeline.alerts.model import Grouping, Rule
from pipeline.alerts.routes import INSTANCE, Route, Routes
from pipeline.alerts.templating import render
from schemas.records import ZERO_TIME, Alert, WindowAggregate

__all__ = ["RuleSet", "alert_id", "instance_keys", "iso"]

_INSTANCE = INSTANCE
_UNREAD = object()
#: Labels the engine sets itself; a rule file may not set them.
GROUP_LABEL = "toka_group"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def alert_id(fingerprint: str, status: str, starts_at: str) -> str:
    """An alert record's id: one per fingerprint, status and ``startsAt`` (so per firing
    episode and severity: escalation starts a new one)."""
    return digest(fingerprint, status, starts_at)


class RuleSet:
    """Every rule of one rule file, indexed by the series names they read."""

    def __init__(
        self,
        rules: Iterable[Rule],
        grouping: Grouping | None = None,
        source: str = "defaults",
        default_window: float | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.grouping = grouping or Grouping()
        self.source = source
        # Rules without a window of their own read only this window length, so a series
        # aggregated at 10 s and at 1 min does not feed one instance twice. Unset, each
        # rule reads the shortest window length it has seen (learned from the stream).
        self.default_window = default_window
        self._shortest: dict[str, float] = {}
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in self.rules:
            names = [rule.metric]
            if rule.ratio is not None:
                names = [rule.ratio.numerator, rule.ratio.denominator]
            for name in dict.fromkeys(names):
                self._by_metric.setdefault(name, []).append(rule)
        self._rules = {r.name: r for r in self.rules}
        self._routes = Routes(self._by_metric)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def metrics(self) -> frozenset[str]:
        """The series names any rule reads (the worker may skip every other aggregate)."""
        return frozenset(self._by_metric)

    @property
    def has_finding_rules(self) -> bool:
        return any(rule.kind == "finding" for rule in self.rules)

    def rules_reading(self, name: str) -> list[Rule]:
        """The rules that read series (or ``finding:<kind>``) ``name``."""
        return self._by_metric.get(name, [])

    # -- data-driven -------------------------------------------------------------------

    def evaluate_finding(
        self, record: Any, states: MutableMapping[str, Any], now: float
    ) -> list[Alert]:
        """Feed one finding (regression, anomaly, capacity forecast): findings.py."""
        return evaluate_finding(self, record, states, now)

    def evaluate(
        self, agg: WindowAggregate, states: MutableMapping[str, Any], now: float
    ) -> list[Alert]:
        """Feed one closed window of one series; returns the alert state changes it causes."""
        out: list[Alert] = []
        if agg.name not in self._by_metric:
            return out  # most series: no rule reads them
        # The matching rules and their instances, worked out once per series (routes.py).
        for route in self._routes.get(agg):
            rule = route.rule
            if not self._reads_window(rule, agg.window_end - agg.window_start):
                continue
            if rule.kind == "threshold":
                value = getattr(agg, rule.field)
                if value is not None:
                    out += self._data(
                        rule, route, float(value), agg.window_end, now=now, states=states
                    )
            elif rule.kind == "ratio":
                out += self._ratio(rule, route, agg, now, states)
            else:
                out += self._present(rule, route, now, states)
        return out

    def _data(
        self,
        rule: Rule,
        route: Route,
        value: float,
        t: float,
        *,
        now: float,
        states: MutableMapping[str, Any],
    ) -> list[Alert]:
        stored = states.get(route.key)
        if stored is None and route.quiet and rule.level_for(value, 0) == 0:
            return []  # the common case: below every threshold, and it stays idle
        key, st = self._load(rule, route, states, stored)
        if st["t"] is not None and t <= st["t"]:
            return []  # a duplicate after a restart, or out of order: already applied
        st = observe(rule, st, rule.level_for(value, st["rank"]), t)
        st.update(t=t, value=value, skew=now - t)
        return self.commit_instance(rule, key, st, t, now=now, states=states)

    def _ratio(
        self,
        rule: Rule,
        route: Route,
        agg: WindowAggregate,
        now: float,
        states: MutableMapping[str, Any],
    ) -> list[Alert]:
        # The two series arrive as separate aggregates of the same window (maybe several
        # series per side when joined ``on`` fewer labels): collect each side per series in
        # the instance state and evaluate once both sides of the window are there.
        assert rule.ratio is not None
        raw_value = getattr(agg, rule.field)
        if raw_value is None:
            return []
        # ``on`` without host joins across hosts, e.g. a service's error rate (routes.py)
        key, st = self._load(rule, route, states)
        w = agg.window_end
        if st["t"] is not None and w <= st["t"]:
            return []  # that window was evaluated already
        out: list[Alert] = []
        part = st.get("ratio") or {"w": w, "n": {}, "d": {}}
        if part["w"] > w:
            return []  # a half of an older window: its pair is gone
        if part["w"] < w:
            # A newer window began. A window with calls but no error series had no errors
            # (the error series may simply not exist then): evaluate it as a ratio of 0.
            if part["d"]:
                out += self._ratio_eval(rule, key, st, part, now=now, states=states)
                key, st = self._load(rule, route, states)
            part = {"w": w, "n": {}, "d": {}}
        side = "n" if agg.name == rule.ratio.numerator else "d"
        part = {**part, side: {**part[side], agg.series: float(raw_value)}}
        if part["n"] and part["d"]:
            return out + self._ratio_eval(rule, key, st, part, now=now, states=states)
        states[key] = dict(st, ratio=part)
        return out

    def _ratio_eval(
        self,
        rule: Rule,
        key: str,
        st: dict[str, Any],
        part: dict[str, Any],
        *,
        now: float,
        states: MutableMapping[str, Any],
    ) -> list[Alert]:
        w, den = part["w"], sum(part["d"].values())
        st = dict(st, ratio=None)
        if den == 0:  # nothing to divide by in this window: no ratio, no change
            return self.commit_instance(rule, key, st, st["t"] or w, now=now, states=states)
        value = sum(part["n"].values()) / den
        st = observe(rule, st, rule.level_for(value, st["rank"]), w)
        st.update(t=w, value=value, skew=now - w)
        return self.commit_instance(rule, key, st, w, now=now, states=states)

    def _present(
        self, rule: Rule, route: Route, now: float, states: MutableMapping[str, Any]
    ) -> list[Alert]:
        # Absence rules run on the wall clock: silence is about when we last heard, not
        # about the event time of what we heard. Per ``by`` labels: routes.py.
        key, st = self._load(rule, route, states)
        fresh = st.get("seen") is not None and now - st["seen"] < _seen_slack(rule)
        if fresh and st["raw"] == 0 and st["rank"] == 0:
            return []  # heard recently enough: skip a changelog write per aggregate
        st = observe(rule, st, 0, now)
        st.update(seen=now, t=now, skew=0.0, value=0.0)
        return self.commit_instance(rule, key, st, now, now=now, states=states)

    def _reads_window(self, rule: Rule, length: float) -> bool:
        size = rule.window or self.default_window
        if size is None:
            size = self._shortest[rule.name] = min(self._shortest.get(rule.name, length), length)
        return abs(length - size) <= 1e-6

    # -- time-driven -------------------------------------------------------------------

    def tick(self, states: MutableMapping[str, Any], now: float) -> list[Alert]:
        """Transitions due by the clock: absence, ``for`` and ``keep_firing_for`` without new
        data, escalation, flap settling; forgets expired groups."""
        out: list[Alert] = []
        for key in instance_keys(states):
            out += self.tick_instance(key, states, now)
        expire_groups(states, now)
        return out

    def tick_instance(self, key: str, states: MutableMapping[str, Any], now: float) -> list[Alert]:
        """``tick`` for the rule instance at ``key`` alone."""
        st = states.get(key)
        if st is None:
            return []
        rule = self._rules.get(st["rule"])
        if rule is None:  # the rule was removed from the file: close what it opened
            return self._resolve_orphan(key, st, now, states)
        if rule.kind == "finding":
            assert rule.finding is not None
            t, cur, after = now, _same_kind(rule, st), rule.finding.clear_after
            if after is not None and cur["raw"] and now - (cur.get("seen") or now) >= after:
                cur = observe(rule, cur, 0, now)  # no finding for that long: clear
        elif rule.kind == "absence":
            assert rule.absence is not None
            t = now
            cur = _same_kind(rule, st)
            # "seen" is written only every _seen_slack seconds: wait that much longer,
            # so a deadman fires after at least `after` of real silence, never early
            if cur.get("seen") is None:  # a rule that became an absence rule
                cur["seen"] = now
            silent = now - cur["seen"]
            if silent >= rule.absence.after + _seen_slack(rule) and cur["raw"] == 0:
                cur = observe(rule, cur, rule.levels[-1].rank, now)
                cur.update(value=silent)
        else:
            # estimate event time from the wall clock with the lag seen at the last data
            cur = _same_kind(rule, st)
            t = max(cur["t"] or 0.0, now - (cur.get("skew") or 0.0))
        new = advance(rule, cur, t)
        if new == st:
            return []
        return self.commit_instance(rule, key, new, t, now=now, states=states)

    # -- state and notifications -------------------------------------------------------

    def load_instance(
        self, rule: Rule, route: Route, states: MutableMapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        return self._load(rule, route, states)

    def _load(
        self,
        rule: Rule,
        route: Route,
        states: MutableMapping[str, Any],
        stored: Any = _UNREAD,
    ) -> tuple[str, dict[str, Any]]:
        """The instance's state key and state (``stored``: what the caller read already)."""
        key = route.key
        st = states.get(key) if stored is _UNREAD else stored
        if st is None:
            return key, _fresh(rule, route.fp, dict(route.labels))  # the route keeps its own
        return key, _same_kind(rule, st)

    def commit_instance(
        self,
        rule: Rule,
        key: str,
        st: dict[str, Any],
        t: float,
        *,
        now: float,
        states: MutableMapping[str, Any],
    ) -> list[Alert]:
        alerts, st = self._notify(rule, st, t, now, states)
        if _idle(rule, st):
            if key in states:
                del states[key]
        elif states.get(key) != st:
            states[key] = st
        return alerts

    def _notify(
        self, rule: Rule, st: dict[str, Any], t: float, now: float, states: MutableMapping[str, Any]
    ) -> tuple[list[Alert], dict[str, Any]]:
        eff = effective_rank(rule, st)
        sent = st["notified"]
        if st["flapping"] or eff == (sent["rank"] if sent else 0):
            return [], st  # nothing new, or held until the flapping settles
        out: list[Alert] = []
        # Resolve the old severity before firing the new one: a consumer that keeps the
        # last record per fingerprint (a compacted topic) then ends on the current state.
        if sent is not None:
            out.append(_alert(rule, st, sent, "resolved", t))
        if eff:
            gk = st.get("group") or group_key(self.grouping, st["labels"], t, now, states)
            sev = rule.severity_name(eff)
            # the threshold actually crossed, also when escalation raised the severity
            level = rule.level(st["rank"]) or rule.levels[-1]
            labels = {
                **st["labels"],
                **rule.labels,
                "alertname": rule.name,
                "severity": sev,
                GROUP_LABEL: gk,
            }
            values = {
                "value": st["value"],
                "threshold": level.value,
                "severity": sev,
                "rule": rule.name,
            }
            ann = {k: render(v, labels, values) for k, v in rule.annotations.items()}
            if st["esc"]:
                ann["escalated_from"] = rule.severity_name(st["rank"])
            sent = {
                "rank": eff,
                "labels": labels,
                "annotations": ann,
                "starts": t,
                "threshold": level.value,
            }
            st = dict(st, notified=sent, group=gk)
            out.append(_alert(rule, st, sent, "firing", t))
        else:
            st = dict(st, notified=None, group=None)
        return out, st

    def _resolve_orphan(
        self, key: str, st: Mapping[str, Any], now: float, states: MutableMapping[str, Any]
    ) -> list[Alert]:
        del states[key]
        sent = st.get("notified")
        if not sent:
            return []
        t = max(st.get("t") or 0.0, now - (st.get("skew") or 0.0))
        return [_alert_raw(st["rule"], st, sent, "resolved", t)]


def instance_keys(states: Mapping[str, Any]) -> list[str]:
    """The state keys of rule instances (not of groups)."""
    return [key for key in list(states) if key.startswith(_INSTANCE)]


def _fresh(rule: Rule, fp: str, labels: dict[str, str]) -> dict[str, Any]:
    return dict(
        new_state(),
        rule=rule.name,
        kind=rule.kind,
        fp=fp,
        labels=labels,
        notified=None,
        value=0.0,
        seen=None,
        skew=0.0,
    )


def _same_kind(rule: Rule, st: dict[str, Any]) -> dict[str, Any]:
    """The state as this rule reads it. A rule file edited into another kind of rule under
    the same name starts over; what it had notified is still resolved."""
    if st.get("kind", "threshold") == rule.kind:
        return dict(st)
    return dict(
        _fresh(rule, st["fp"], st["labels"]),
        notified=st.get("notified"),
        group=st.get("group"),
        value=st.get("value", 0.0),
    )


def _seen_slack(rule: Rule) -> float:
    assert rule.absence is not None
    return min(rule.absence.after / 10, 5.0)


def _idle(rule: Rule, st: Mapping[str, Any]) -> bool:
    if rule.kind == "absence" or st.get("ratio"):
        return False  # watching for silence, or holding half a ratio
    return (
        st["rank"] == 0
        and st["raw"] == 0
        and st["notified"] is None
        and not st["flapping"]
        and not st["changes"]
        and st["up"] is None
        and st["down"] is None
    )


def _alert(
    rule: Rule, st: Mapping[str, Any], sent: Mapping[str, Any], status: str, t: float
) -> Alert:
    return _alert_raw(rule.name, st, sent, status, t)


def _alert_raw(
    rule: str, st: Mapping[str, Any], sent: Mapping[str, Any], status: str, t: float
) -> Alert:
    firing = status == "firing"
    starts = iso(sent["starts"])
    return Alert(
        # Deterministic: the same change sent again after a crash (send, then commit) is a
        # duplicate that consumers drop by id.
        id=alert_id(st["fp"], status, starts),
        status="firing" if firing else "resolved",
        labels=dict(sent["labels"]),
        annotations=dict(sent["annotations"]),
        startsAt=starts,
        endsAt=ZERO_TIME if firing else iso(t),
        fingerprint=st["fp"],
        rule=rule,
        value=float(st["value"]),
        threshold=float(sent["threshold"]),
    )
