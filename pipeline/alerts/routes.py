"""Which rule instances a series feeds, worked out once per series instead of per aggregate.

Rules are fixed once a RuleSet is built, so the rules an aggregate selects (its name and
label matchers) and each instance's labels, fingerprint and state key depend only on the
series' name, host and labels. They are cached per series id and checked against the
aggregate's own name, host and labels, so two series sharing an id string (possible when
aggregates come from elsewhere) still get their own routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.alerts.grouping import digest
from pipeline.alerts.model import Rule
from schemas.records import WindowAggregate

__all__ = ["INSTANCE", "Route", "Routes", "instance_labels"]

#: State keys of rule instances start with this.
INSTANCE = "a|"


class Route:
    """One rule instance an aggregate feeds: its labels, fingerprint and state key."""

    __slots__ = ("rule", "labels", "fp", "key", "quiet")

    def __init__(self, rule: Rule, labels: dict[str, str]) -> None:
        self.rule = rule
        self.labels = labels
        self.fp = digest(rule.name, sorted(labels.items()))
        self.key = INSTANCE + self.fp
        # A threshold instance with no state that sees rank 0 stays idle: nothing to write
        # or send (unless flap detection would mark it flapping at zero changes).
        self.quiet = rule.kind == "threshold" and (rule.flap is None or rule.flap.max_changes > 0)


def instance_labels(rule: Rule, labels: Mapping[str, str], host: str) -> dict[str, str]:
    """The labels of the instance of ``rule`` a series with these labels and host feeds."""
    base = {**labels, "host": host}
    keep = None
    if rule.kind == "ratio":
        assert rule.ratio is not None
        keep = rule.ratio.on  # ``on`` without host joins across hosts
    elif rule.kind == "absence":
        assert rule.absence is not None
        keep = rule.absence.by
    return base if keep is None else {k: base.get(k, "") for k in keep}


class Routes:
    """Routes per series id, for the rules that read each metric name."""

    def __init__(self, by_metric: Mapping[str, Sequence[Rule]], limit: int = 50_000) -> None:
        self._by_metric = by_metric
        # Series come and go: forget them all now and then (about 750 bytes per series and rule).
        self._limit = limit
        self._cache: dict[str, tuple[str, str, dict[str, str], list[Route]]] = {}

    def get(self, agg: WindowAggregate) -> list[Route]:
        hit = self._cache.get(agg.series)
        if hit is not None and hit[0] == agg.name and hit[1] == agg.host and hit[2] == agg.labels:
            return hit[3]
        labels = agg.labels
        routes = [
            Route(rule, instance_labels(rule, labels, agg.host))
            for rule in self._by_metric.get(agg.name, ())
            if all(m.matches(labels) for m in rule.matchers)
        ]
        if len(self._cache) >= self._limit:
            self._cache.clear()
        self._cache[agg.series] = (agg.name, agg.host, dict(labels), routes)
        return routes
