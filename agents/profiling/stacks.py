"""Collapsed stacks (py-spy's raw format, as flamegraph.pl reads them) into a report's
function table and hot paths; the raw text bounded and cut into chunks. Pure.

A line is ``frame;frame;...;frame COUNT``, outermost frame first; a frame is
``function (file:line)``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from schemas.profiles import FunctionTime, HotPath

__all__ = ["Stacks", "chunk_text", "function_table", "hot_paths", "parse_collapsed", "trim"]

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")


@dataclass(frozen=True, slots=True)
class Stacks:
    #: (frames outermost first, samples), most samples first
    stacks: list[tuple[tuple[str, ...], int]]
    samples: int


def parse_collapsed(text: str) -> Stacks:
    """Lines that are not ``stack COUNT`` are skipped; equal stacks are summed."""
    counts: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[tuple(stack.split(";"))] += int(count)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Stacks(ordered, sum(counts.values()))


def _split_frame(frame: str) -> tuple[str, str, int]:
    m = _FRAME.match(frame)
    if m is None:
        return frame, "", 0
    return m["function"], m["file"], int(m["line"])


def function_table(stacks: Stacks, top: int) -> list[FunctionTime]:
    """The ``top`` functions by self time, then any others among the top by total time."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for frames, count in stacks.stacks:
        own[frames[-1]] += count
        for frame in set(frames):  # recursion counts once per stack
            total[frame] += count
    chosen = [f for f, _ in own.most_common(top)]
    picked = set(chosen)
    chosen += [f for f, _ in total.most_common(top) if f not in picked][: top - len(chosen)]
    n = stacks.samples or 1
    rows = []
    for frame in chosen:
        function, file, line = _split_frame(frame)
        rows.append(
            FunctionTime(
                function=function,
                file=file,
                line=line,
                self_samples=own[frame],
                total_samples=total[frame],
                self_share=own[frame] / n,
                total_share=total[frame] / n,
            )  # fmt: skip
        )
    rows.sort(key=lambda r: (-r.self_samples, -r.total_samples, r.function))
    return rows


def hot_paths(stacks: Stacks, top: int) -> list[HotPath]:
    n = stacks.samples or 1
    return [
        HotPath(frames=list(frames), samples=count, share=count / n)
        for frames, count in stacks.stacks[:top]
    ]


def trim(stacks: Stacks, max_bytes: int, clean: Callable[[str], str]) -> tuple[str, int]:
    """The collapsed text of the most frequent stacks within ``max_bytes`` (after ``clean``
    on each line), and the samples of the stacks left out."""
    out: list[str] = []
    size = omitted = 0
    for frames, count in stacks.stacks:
        line = clean(";".join(frames)) + f" {count}\n"
        if size + len(line.encode()) > max_bytes:
            omitted += count
            continue
        out.append(line)
        size += len(line.encode())
    return "".join(out), omitted


def chunk_text(text: str, chunk_bytes: int) -> list[str]:
    """Pieces of at most ``chunk_bytes`` (UTF-8), cut at line ends; joined they are ``text``.

    A single line longer than ``chunk_bytes`` is cut where it must be."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for whole in text.splitlines(keepends=True):
        rest, width = whole, len(whole.encode())
        if size + width > chunk_bytes and current:
            chunks.append("".join(current))
            current, size = [], 0
        while width > chunk_bytes:
            head = rest.encode()[:chunk_bytes].decode(errors="ignore")
            chunks.append(head)
            rest = rest[len(head) :]
            width = len(rest.encode())
        current.append(rest)
        size += width
    if current:
        chunks.append("".join(current))
    return chunks
