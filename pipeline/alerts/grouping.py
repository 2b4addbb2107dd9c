"""Group keys: alerts that share the grouping labels within a time window get one key, so
incident tooling sees one incident rather than twenty alerts."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from typing import Any

from pipeline.alerts.model import Grouping

__all__ = ["GROUP_PREFIX", "digest", "expire_groups", "group_key"]

#: State keys of open groups start with this; alert instance keys never do.
GROUP_PREFIX = "g|"


def digest(*parts: object) -> str:
    """A short stable hash (the same in every process, unlike ``hash()``)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def group_key(
    grouping: Grouping,
    labels: Mapping[str, str],
    t: float,
    now: float,
    states: MutableMapping[str, Any],
) -> str:
    """The key for an alert starting at ``t``: the open group's, or a new one. A group stays
    open while its alerts keep starting within ``window`` seconds of each other."""
    values = tuple((k, labels.get(k, "")) for k in grouping.by)
    skey = GROUP_PREFIX + digest(values)
    group = states.get(skey)
    if group is not None and t - group["last"] <= grouping.window:
        key, last = group["key"], max(t, group["last"])
    else:
        key, last = digest(values, t), t
    states[skey] = {"key": key, "last": last, "wall": now, "window": grouping.window}
    return key


def expire_groups(states: MutableMapping[str, Any], now: float) -> None:
    """Forget groups quiet for longer than their window (wall clock)."""
    stale = [
        k
        for k, g in list(states.items())
        if k.startswith(GROUP_PREFIX) and now - g["wall"] > g["window"]
    ]
    for k in stale:
        del states[k]
