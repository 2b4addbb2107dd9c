"""The disk spool: order, reopen, caps and drop policies, corrupt and truncated files."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.publish.spool import MAGIC, Spool


def _fill(spool: Spool, n: int, start: int = 0, size: int = 50) -> None:
    for i in range(start, start + n):
        assert spool.append("t", b"k", f"{i:06d}".encode().ljust(size, b".")) != "refused"


def _drain(spool: Spool, batch: int = 7) -> list[int]:
    out = []
    while rows := spool.peek(batch):
        out += [int(v[:6]) for _t, _k, v in rows]
        spool.commit(len(rows))
    return out


def test_replays_in_order_across_segments_and_deletes_them(tmp_path: Path):
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1000)
    _fill(s, 100)
    assert len(list(tmp_path.glob("*.seg"))) > 5
    assert s.records == 100
    assert _drain(s) == list(range(100))
    assert not s and s.size_bytes == 0 and not list(tmp_path.glob("*.seg"))


def test_interleaved_append_and_drain_keeps_order(tmp_path: Path):
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=700)
    got: list[int] = []
    for i in range(0, 60, 6):
        _fill(s, 6, start=i)
        rows = s.peek(4)
        got += [int(v[:6]) for _t, _k, v in rows]
        s.commit(len(rows))
    got += _drain(s)
    assert got == list(range(60))


def test_survives_reopen_by_a_new_process(tmp_path: Path):
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1000)
    _fill(s, 30)
    rows = s.peek(10)
    s.commit(len(rows))
    s.close()
    again = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1000)
    _fill(again, 5, start=30)  # new records go after the old ones
    # The partly sent segment is replayed whole after a restart: duplicates, never a loss.
    assert _drain(again)[-25:] == list(range(10, 35))


@pytest.mark.parametrize("policy", ["oldest", "newest"])
def test_size_cap_and_drop_policy(tmp_path: Path, policy: str):
    s = Spool(tmp_path, max_bytes=2000, segment_bytes=500, drop_policy=policy)  # type: ignore[arg-type]
    outcomes = [s.append("t", b"k", f"{i:06d}".encode().ljust(50, b".")) for i in range(100)]
    assert s.size_bytes <= 2000
    kept = _drain(s)
    assert s.dropped == 100 - len(kept) > 0
    if policy == "oldest":
        assert kept == list(range(100 - len(kept), 100))  # the newest survive
        assert "dropped_oldest" in outcomes and "refused" not in outcomes
    else:
        assert kept == list(range(len(kept)))  # the oldest survive
        assert outcomes.count("refused") == s.dropped


def test_corrupt_bytes_are_skipped_not_fatal(tmp_path: Path):
    s = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    _fill(s, 20)
    s.close()
    [seg] = tmp_path.glob("*.seg")
    data = bytearray(seg.read_bytes())
    frame = len(data) // 20
    data[5 * frame + 20] ^= 0xFF  # flip a payload bit in record 5: CRC mismatch
    data[9 * frame : 9 * frame + 4] = b"XXXX"  # destroy record 9's header
    seg.write_bytes(bytes(data) + MAGIC + b"\x00\x00")  # and a torn write at the end
    corrupt: list[int] = []
    again = Spool(tmp_path, max_bytes=1 << 20, on_corrupt=lambda _p, off: corrupt.append(off))
    kept = _drain(again)
    assert kept == [i for i in range(20) if i not in (5, 9)]
    assert len(corrupt) == 3
    assert not list(tmp_path.glob("*.seg"))


def test_a_file_of_garbage_is_skipped(tmp_path: Path):
    (tmp_path / "000000000000.seg").write_bytes(b"\x00garbage" * 1000)
    s = Spool(tmp_path, max_bytes=1 << 20)
    _fill(s, 3)
    assert _drain(s) == [0, 1, 2]


def test_segment_dropped_while_its_records_are_in_flight(tmp_path: Path):
    s = Spool(tmp_path, max_bytes=2000, segment_bytes=500)
    _fill(s, 8)
    rows = s.peek(3)  # being sent...
    _fill(s, 40, start=8)  # ...while the spool overflows and drops the oldest segments
    s.commit(len(rows))  # the ack arrives for records whose segment is gone
    kept = _drain(s)
    assert kept == list(range(48 - len(kept), 48))  # intact, in order, no garbage
    assert s.dropped == 48 - len(kept)


def test_a_stray_seg_file_does_not_stop_the_start(tmp_path: Path):
    (tmp_path / "000000000000 copy.seg").write_bytes(b"not ours")
    (tmp_path / "notes.seg").write_bytes(b"")
    s = Spool(tmp_path, max_bytes=1 << 20)
    _fill(s, 3)
    assert _drain(s) == [0, 1, 2]
    assert (tmp_path / "notes.seg").exists()  # someone else's file: left as it was
