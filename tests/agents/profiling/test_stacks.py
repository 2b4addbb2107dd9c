"""Collapsed stacks into function shares, hot paths, bounded raw text and chunks."""

from __future__ import annotations

from agents.profiling.stacks import chunk_text, function_table, hot_paths, parse_collapsed, trim

TEXT = """<module> (app.py:1);main (app.py:9);hot (app.py:3) 60
<module> (app.py:1);main (app.py:9) 30
<module> (app.py:1);main (app.py:9);rec (app.py:20);rec (app.py:20) 10
py-spy> a banner line 2x
"""


def test_self_and_total_shares() -> None:
    stacks = parse_collapsed(TEXT)
    assert stacks.samples == 100
    rows = {r.function: r for r in function_table(stacks, 10)}
    assert (rows["hot"].self_share, rows["hot"].total_share) == (0.6, 0.6)
    assert (rows["main"].self_samples, rows["main"].total_samples) == (30, 100)
    assert rows["rec"].total_samples == 10  # recursion counts once per stack
    assert (rows["hot"].file, rows["hot"].line) == ("app.py", 3)
    assert rows["<module>"].self_samples == 0 and rows["<module>"].total_share == 1.0


def test_top_keeps_self_time_first() -> None:
    rows = function_table(parse_collapsed(TEXT), 2)
    assert [r.function for r in rows] == ["hot", "main"]


def test_hot_paths_most_frequent_first() -> None:
    paths = hot_paths(parse_collapsed(TEXT), 2)
    assert paths[0].frames[-1] == "hot (app.py:3)" and paths[0].share == 0.6
    assert paths[1].samples == 30


def test_trim_keeps_frequent_stacks_and_counts_the_rest() -> None:
    stacks = parse_collapsed(TEXT)
    raw, omitted = trim(stacks, 60, str.upper)
    assert raw == "<MODULE> (APP.PY:1);MAIN (APP.PY:9);HOT (APP.PY:3) 60\n"
    assert omitted == 40


def test_chunks_cut_at_line_ends_and_rejoin() -> None:
    text = "".join(f"a;b;c{i} {i}\n" for i in range(1000))
    chunks = chunk_text(text, 500)
    assert "".join(chunks) == text
    assert all(len(c.encode()) <= 500 and c.endswith("\n") for c in chunks)
    long = "x" * 1200 + " 1\n"
    pieces = chunk_text(long, 500)
    assert "".join(pieces) == long and max(len(p) for p in pieces) <= 500
