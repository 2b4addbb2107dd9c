"""The history store: rollups, sketches, dedup, retention, size bound, corrupt file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.dashboard.ingest import IngestBatch
from pipeline.dashboard.store import HistoryStore, Retention
from pipeline.windows.sketch import DDSketch
from schemas.codec import encode
from tests.pipeline.dashboard.helpers import aggregate, alert, regression


def _store(tmp_path: Path, **retention: float) -> HistoryStore:
    return HistoryStore(tmp_path / "h.duckdb", Retention(**retention), rollup_width=10.0)


def _batch(aggs: list, offset: int = 0) -> IngestBatch:
    batch = IngestBatch()
    for i, agg in enumerate(aggs):
        batch.add("aggregates", "t.aggregates", 0, offset + i, ts=time.time(), value=encode(agg))
    return batch


def test_rollups_sum_one_window_size_and_merge_across_appends(tmp_path: Path) -> None:
    store = _store(tmp_path)
    aggs = [aggregate("h1", "cpu", 1210.0 + 10 * i, float(i)) for i in range(6)]  # 1200-1260
    # the 60 s window of the same data must not be counted again in the rollups
    aggs.append(aggregate("h1", "cpu", 1260.0, 2.5, width=60.0))
    store.append(_batch(aggs[:3]))
    store.append(_batch(aggs[3:], offset=3))
    folded = "SELECT count, sum, min, max, last FROM rollup_1m WHERE bucket = 1200"
    assert len(store.cursor().execute(folded).fetchall()) == 2  # one partial row per append
    assert store.compact() == 2  # 1m and 1h: two partials folded into one each
    assert store.cursor().execute(folded).fetchall() == [(12, 30.0, 0.0, 5.0, 5.0)]
    assert store.cursor().execute("SELECT count(*) FROM raw").fetchone() == (7,)


def test_duplicate_records_are_stored_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    aggs = [aggregate("h1", "cpu", 1010.0, 1.0), aggregate("h1", "cpu", 1020.0, 2.0)]
    store.append(_batch(aggs))
    again = _batch([aggs[1], aggregate("h1", "cpu", 1030.0, 3.0)], offset=2)
    assert store.append(again)["aggregates"] == 1
    assert store.cursor().execute("SELECT sum(count) FROM rollup_1m").fetchone() == (6,)
    b = IngestBatch()
    one = alert("h1")
    for i in range(2):
        b.add("alerts", "t.alerts", 0, i, ts=1.0, value=encode(one))
    assert store.append(b)["alerts"] == 1


def test_sketches_merge_exactly_and_percentiles_without_them_are_approximate(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    values = [list(range(1, 101)), list(range(101, 201))]
    sketched = [
        aggregate(
            "h1",
            "lat",
            1010.0 + 10 * i,
            1.0,
            sketch=DDSketch().add_many(v).to_dict(),
            p95=float(v[94]),
        )  # fmt: skip
        for i, v in enumerate(values)
    ]
    plain = [aggregate("h2", "lat", 1010.0 + 10 * i, 1.0, p95=p) for i, p in enumerate((10, 30))]
    store.append(_batch(sketched + plain))
    rows = dict(store.cursor().execute(
        "SELECT host, [q95, p95_w / pw_n] FROM rollup_1m LEFT JOIN sketch_1m "
        "USING (series, bucket)").fetchall())  # fmt: skip
    assert rows["h1"][0] == pytest.approx(190.0, rel=0.02)  # the merged 200 values' p95
    assert rows["h2"][0] is None and rows["h2"][1] == 20.0  # weighted mean: approximate


def test_offsets_commit_with_the_rows(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append(_batch([aggregate("h1", "cpu", 1010.0, 1.0)], offset=41))
    store.close()
    again = _store(tmp_path)
    assert again.offsets() == {("t.aggregates", 0): 42}


def test_retention_and_size_bound(tmp_path: Path) -> None:
    now = 10_000_000.0
    store = _store(tmp_path, raw_seconds=600, minute_seconds=3600, max_bytes=1.0)
    aggs = [aggregate("h1", "cpu", now - 7200 + 60 * i, 1.0) for i in range(120)]
    store.append(_batch(aggs))
    b = IngestBatch()
    b.add("regressions", "t.regressions", 0, 0, ts=now, value=encode(regression()))
    store.append(b)
    removed = store.prune(now)
    assert removed["raw"] == 110  # older than 10 min (window ends at now-600 stay)
    assert removed["rollup_1m"] == 61  # buckets start before now-3600 (bucket of start)
    assert removed["evicted_raw"] > 0  # over the (tiny) size bound: oldest go first
    assert store.counts["pruned_raw"] == 110


def test_corrupt_file_is_moved_aside_and_started_again(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    path.write_bytes(b"not a database" * 1000)
    store = HistoryStore(path, Retention(), rollup_width=10.0)
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert store.offsets() == {}


def test_latest_keeps_each_series_newest_window_even_when_an_older_one_comes_late(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.append(_batch([aggregate("h1", "cpu", 1020.0, 2.0), aggregate("h1", "cpu", 1010.0, 1.0)]))
    store.append(_batch([aggregate("h1", "cpu", 1000.0, 0.5)], offset=2))  # late
    store.append(_batch([aggregate("h1", "cpu", 1030.0, 3.0, width=60.0)], offset=3))  # other size
    latest = "SELECT window_end, mean FROM latest"
    assert store.cursor().execute(latest).fetchall() == [(1020.0, 2.0)]
    store.append(_batch([aggregate("h1", "cpu", 1040.0, 4.0)], offset=4))
    assert store.cursor().execute(latest).fetchall() == [(1040.0, 4.0)]


def test_a_file_held_by_another_replica_is_an_error_and_is_not_moved(tmp_path: Path) -> None:
    import subprocess
    import sys

    from pipeline.dashboard.schema import HistoryError

    path = tmp_path / "h.duckdb"
    _store(tmp_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(HistoryError, match="lock"):
            HistoryStore(path, Retention(), rollup_width=10.0)
        assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))
    finally:
        holder.kill()
        holder.wait()
