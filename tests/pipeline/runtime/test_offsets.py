"""FoldedOffsets: exactly the offsets added are in it, as few ranges as they allow."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.runtime.offsets import FoldedOffsets


def test_in_order_delivery_is_one_range_and_a_gap_splits_it_until_filled() -> None:
    folded = FoldedOffsets()
    for offset in (0, 1, 2, 4, 5):
        folded.add(offset)
    assert folded.ranges == [(0, 2), (4, 5)]
    assert 3 not in folded and 2 in folded and 6 not in folded
    folded.add(3)
    assert folded.ranges == [(0, 5)]


def test_past_its_limit_the_oldest_gap_is_taken_for_a_gap_in_the_log() -> None:
    folded = FoldedOffsets(max_ranges=2)
    for offset in (0, 2, 4):
        folded.add(offset)
    assert folded.ranges == [(0, 2), (4, 4)]
    assert 1 in folded  # given up on: a compacted log never delivers it


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=300))
def test_membership_is_exactly_what_was_added(offsets: list[int]) -> None:
    folded = FoldedOffsets(max_ranges=1000)
    for offset in offsets:
        folded.add(offset)
    assert [o for o in range(202) if o in folded] == sorted(set(offsets))
    ranges = folded.ranges
    assert all(a[1] + 1 < b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_restored_ranges_are_the_offsets_they_name() -> None:
    folded = FoldedOffsets.from_ranges([[5, 9], [0, 2], [3, 3]])
    assert folded.ranges == [(0, 3), (5, 9)]
    folded.add(4)
    assert folded.ranges == [(0, 9)] and 4 in folded and 10 not in folded
