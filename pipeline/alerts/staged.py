"""Alert state changes held back until they may be kept.

``Staged`` is a mapping over the alert state that collects writes and deletes instead of
making them, so the engine can run unchanged over it and the caller decides afterwards:
``apply`` keeps them, dropping the object forgets them. Two uses:

- one aggregate whose evaluation raises must not leave half of its changes behind (a
  state that says "notified" for an alert that was never built), nor take the alerts of
  the other aggregates closed with it: ``evaluate_each`` gives each its own layer;
- send, then commit: the alerts of a close go out before their state changes reach the
  changelog (pipeline/alerts/stage.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.alerts.engine import RuleSet, instance_keys
from pipeline.alerts.grouping import expire_groups
from pipeline.deadletter import dead_letter
from schemas.codec import encode
from schemas.records import Alert, DeadLetter, WindowAggregate

__all__ = [
    "EVALUATION_FAILED",
    "Failed",
    "Outcome",
    "Staged",
    "evaluate_each",
    "send_then_commit",
    "tick_each",
]

#: The dead-letter reason of an aggregate the rules could not evaluate.
EVALUATION_FAILED = "evaluation_failed"

_DELETED = object()


class Staged(MutableMapping[str, Any]):
    """``base`` as it will read once the held changes are applied."""

    def __init__(self, base: MutableMapping[str, Any]) -> None:
        self._base = base
        self._changes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._changes:
            return self._base[key]
        value = self._changes[key]
        if value is _DELETED:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._changes:
            value = self._changes[key]
            return default if value is _DELETED else value
        return self._base.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str) and key in self._changes:
            return self._changes[key] is not _DELETED
        return key in self._base

    def __setitem__(self, key: str, value: Any) -> None:
        self._changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._changes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        changes = self._changes
        for key in list(self._base):
            if key not in changes:
                yield key
        for key, value in list(changes.items()):
            if value is not _DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @property
    def changed(self) -> int:
        """Keys written or deleted and not yet applied."""
        return len(self._changes)

    def apply(self) -> None:
        """Make the held changes in ``base``, in the order they were first made."""
        changes, self._changes = self._changes, {}
        for key, value in changes.items():
            if value is _DELETED:
                if key in self._base:
                    del self._base[key]
            else:
                self._base[key] = value


@dataclass(frozen=True, slots=True)
class Failed:
    """An aggregate the rules could not evaluate; its state changes were dropped."""

    aggregate: WindowAggregate
    error: str

    def dead_letter(self, source_topic: str, partition: int | None) -> DeadLetter:
        """The dead-letter record: the reason, the error and the aggregate's bytes."""
        agg = self.aggregate
        try:
            original = encode(agg)
        except Exception:  # noqa: BLE001 - a poisoned aggregate may not even encode
            original = repr(agg).encode()
        key = agg.series.encode() if isinstance(agg.series, str) else None
        return dead_letter(
            EVALUATION_FAILED, self.error, source_topic, original, key=key, partition=partition
        )


@dataclass(slots=True)
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    #: (state key, error) of rule instances whose timer transition raised
    failed_instances: list[tuple[str, str]] = field(default_factory=list)


def evaluate_each(
    rules: RuleSet,
    aggregates: Iterable[WindowAggregate],
    states: MutableMapping[str, Any],
    now: float,
) -> Outcome:
    """``rules.evaluate`` for every aggregate, each on its own: one that raises keeps none
    of its state changes and costs none of the others' alerts."""
    out = Outcome()
    metrics = rules.metrics
    for agg in aggregates:
        if agg.name not in metrics:
            continue  # most series: no rule reads them, nothing to isolate
        layer = Staged(states)
        try:
            alerts = rules.evaluate(agg, layer, now)
        except Exception as exc:  # noqa: BLE001 - any failure: counted and dead-lettered
            out.failed.append(Failed(agg, f"{type(exc).__name__}: {exc}"))
            continue
        layer.apply()
        out.alerts += alerts
    return out


def tick_each(rules: RuleSet, states: MutableMapping[str, Any], now: float) -> Outcome:
    """``rules.tick``, each rule instance on its own: one whose state cannot be advanced
    keeps it as it was and costs no other instance its transition."""
    out = Outcome()
    for key in instance_keys(states):
        layer = Staged(states)
        try:
            alerts = rules.tick_instance(key, layer, now)
        except Exception as exc:  # noqa: BLE001 - any failure: counted, the rest go on
            out.failed_instances.append((key, f"{type(exc).__name__}: {exc}"))
            continue
        layer.apply()
        out.alerts += alerts
    expire_groups(states, now)
    return out


async def send_then_commit(
    alerts: list[Alert],
    staged: Staged,
    send: Callable[[list[Alert]], Awaitable[None]],
    commit: Callable[[], Awaitable[None]],
) -> None:
    """Deliver ``alerts`` (``send`` returns once the broker has them), then apply the state
    changes that produced them and make them durable (``commit``). A ``send`` that raises
    leaves the state as it was: the change is notified again, under the same alert ids."""
    if alerts:
        await send(alerts)
    staged.apply()
    if alerts:
        await commit()
