"""Random value sequences through every combination of timing features: the notifications
always pair up (no double firing, no resolve without a firing, one severity at a time per
series), and once values stay normal everything resolves, across rule-set restarts."""

from __future__ import annotations

import itertools
import random
import textwrap
import zlib

import pytest

from pipeline.alerts import parse_rules
from tests.pipeline.alerts.alert_helpers import ChangelogDict, agg

OPTIONS = {
    "for": ["", "for: 20s"],
    "kff": ["", "keep_firing_for: 30s"],
    "hyst": ["", "hysteresis: 4"],
    "esc": ["", "escalate_after: 40s"],
    "flap": ["", "flap: {window: 60s, max_changes: 3, settle: 30s}"],
}


def rules_text(opts: tuple[str, ...]) -> str:
    extra = "".join(f"    {o}\n" for o in opts if o)
    return (
        textwrap.dedent("""
    rules:
      - name: R
        metric: m
        thresholds: {low: 50, warning: 70, critical: 85}
    """)
        + extra
    )


@pytest.mark.parametrize("opts", list(itertools.product(*OPTIONS.values())))
def test_notifications_pair_up_and_end_resolved(opts):
    rng = random.Random(zlib.crc32("|".join(opts).encode()))  # same run every time
    states = ChangelogDict()
    text = rules_text(opts)
    rs = parse_rules(text)
    firing: dict[str, dict[str, str]] = {}  # fingerprint -> labels of the firing alert
    t = 0.0

    def check(alerts):
        for a in alerts:
            if a.status == "firing":
                assert a.fingerprint not in firing, f"second firing without resolve at {t}"
                firing[a.fingerprint] = a.labels
            else:
                assert firing.get(a.fingerprint) == a.labels, f"resolve of nothing at {t}"
                del firing[a.fingerprint]

    hosts = ["a", "b"]
    for step in range(300):
        t += 10
        if step % 97 == 96:
            rs = parse_rules(text)  # a restarted worker: new rule set, same table
        for h in hosts:
            if rng.random() < 0.9:  # some windows are missing
                v = rng.choice([10, 45, 55, 65, 72, 80, 84, 90, 99])
                check(rs.evaluate(agg("m", v, t, host=h), states, t + 1))
        if rng.random() < 0.5:
            check(rs.tick(states, t + 5))
    for _ in range(20):  # values back to normal, the clock runs on
        t += 10
        for h in hosts:
            check(rs.evaluate(agg("m", 5, t, host=h), states, t + 1))
        check(rs.tick(states, t + 5))
    assert firing == {}
    assert not [k for k in states if k.startswith("a|")]  # nothing left in the table
