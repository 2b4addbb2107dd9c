"""The analysis core: bottlenecks, functions that became hot after a deploy, leak suspects."""

from __future__ import annotations

import json

import msgspec
import pytest

from pipeline.profiles.analysis import ProfileBaselines, analyse, leak_suspects
from schemas.config.profiling import ProfileAnalysisConfig
from schemas.profiles import AllocationSite, FunctionTime, ProfileReport

SETTINGS = ProfileAnalysisConfig(bottleneck_share=0.3, hot_min_share=0.1, hot_ratio=2.0,
                                 leak_min_snapshots=3, leak_growing_fraction=0.75,
                                 leak_min_growth_bytes=1000)  # fmt: skip


def _fn(name: str, share: float, line: int = 1) -> FunctionTime:
    n = round(share * 1000)
    return FunctionTime(function=name, file="shop.py", line=line, self_samples=n,
                        total_samples=n, self_share=share, total_share=share)  # fmt: skip


def _cpu(session: str, version: str, *functions: FunctionTime) -> ProfileReport:
    return ProfileReport(id=session, ts=100.0, host="h", session=session, pid=1, kind="cpu",
                         started=0.0, ended=60.0, process="python3", service="shop",
                         version=version, samples=1000, functions=list(functions))  # fmt: skip


def test_bottleneck_above_share_only() -> None:
    found = analyse(ProfileBaselines(), _cpu("s1", "1", _fn("hot", 0.7), _fn("cool", 0.05)),
                    SETTINGS)  # fmt: skip
    assert [(f.kind, f.subject, f.severity) for f in found] == [
        ("bottleneck", "hot (shop.py)", "major")
    ]
    assert "70%" in found[0].summary


def test_function_that_became_hot_after_a_deploy() -> None:
    state = ProfileBaselines()
    analyse(state, _cpu("s1", "1.0", _fn("parse", 0.05), _fn("serve", 0.25)), SETTINGS)
    # the function moved (new line) in 1.1 and now takes 4x the share: still the same one
    found = analyse(state, _cpu("s2", "1.1", _fn("parse", 0.2, line=40), _fn("serve", 0.26)),
                    SETTINGS)  # fmt: skip
    [hot] = [f for f in found if f.kind == "became_hot"]
    assert (hot.subject, hot.after_deploy, hot.baseline_version, hot.version) == (
        "parse (shop.py)",
        True,
        "1.0",
        "1.1",
    )
    assert hot.baseline_share == 0.05 and hot.baseline_session == "s1" and hot.severity == "major"
    assert "1.0 -> 1.1" in hot.summary
    # the state is a small JSON value a stage can keep in a table
    restored = ProfileBaselines.restore(json.loads(json.dumps(state.snapshot())))
    assert restored.services["shop"].session == "s2"
    assert restored.services["shop"].shares["parse (shop.py)"] == 0.2


def test_a_process_without_a_service_is_compared_with_itself_on_its_host() -> None:
    state = ProfileBaselines()
    anonymous = msgspec.structs.replace(_cpu("s1", "", _fn("a", 0.05)), service="")
    analyse(state, anonymous, SETTINGS)
    assert list(state.services) == ["python3@h"]


def test_same_version_rise_is_not_a_deploy_and_small_rises_are_quiet() -> None:
    state = ProfileBaselines()
    analyse(state, _cpu("s1", "1", _fn("a", 0.1), _fn("b", 0.02)), SETTINGS)
    found = analyse(state, _cpu("s2", "1", _fn("a", 0.15), _fn("b", 0.12)), SETTINGS)
    assert [(f.subject, f.after_deploy, f.severity) for f in found if f.kind == "became_hot"] == [
        ("b (shop.py)", False, "minor")
    ]


def _memory(*sites: AllocationSite, rss: list[int] | None = None) -> ProfileReport:
    rss = rss or [100, 100, 100, 100, 100]
    return ProfileReport(id="m", ts=50.0, host="h", session="m", pid=1, kind="memory",
                         started=0.0, ended=40.0, process="python3", service="shop",
                         allocations=list(sites), snapshots=5, rss_bytes=rss,
                         rss_ts=[0.0, 10.0, 20.0, 30.0, 40.0])  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "suspect"),
    [
        ([0, 1000, 2000, 3000, 4000], True),   # grows every interval
        ([0, 1000, 900, 2000, 3000], True),    # 3 of 4 intervals up: at the fraction
        ([0, 3000, 0, 3000, 1500], False),     # sawtooth
        ([0, 100, 200, 300, 400], False),      # grows, but by less than the minimum
        ([0, 5000], False),                    # too few snapshots
    ],
)  # fmt: skip
def test_leak_suspects(sizes: list[int], suspect: bool) -> None:
    site = AllocationSite(site="shop.py:12", sizes=sizes, counts=[1] * len(sizes),
                          growth_bytes=sizes[-1] - sizes[0], code="cache.append(row)")  # fmt: skip
    found = leak_suspects(_memory(site), SETTINGS)
    assert bool(found) is suspect
    if suspect:
        assert found[0].subject == "shop.py:12" and "cache.append(row)" in found[0].summary
        assert found[0].growth_per_hour == pytest.approx(found[0].growth_bytes * 3600 / 40)


def test_rss_leak_without_the_sdk() -> None:
    found = leak_suspects(_memory(rss=[10_000, 12_000, 14_000, 16_000, 18_000]), SETTINGS)
    assert [(f.kind, f.severity, f.growth_bytes) for f in found] == [
        ("leak_suspect", "minor", 8000)
    ]
    assert "did not opt in" in found[0].summary
