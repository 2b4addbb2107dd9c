"""A finished session into its ProfileReport and the ProfileChunks of its raw profile. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from agents.profiling.cpu import CpuResult
from agents.profiling.memory import MemoryResult, allocation_sites
from agents.profiling.stacks import chunk_text, function_table, hot_paths, parse_collapsed, trim
from agents.profiling.target import Target
from schemas.codec import encode
from schemas.profiles import FunctionTime, HotPath, ProfileChunk, ProfileReport
from schemas.records import new_id

__all__ = ["SessionFacts", "build_report"]

#: Room left in each chunk record for its other fields and JSON escapes.
_ENVELOPE_BYTES = 2048


@dataclass(frozen=True, slots=True)
class SessionFacts:
    host: str
    session: str
    kind: str
    target: Target
    rate_hz: int
    started: float
    ended: float


def build_report(
    facts: SessionFacts,
    *,
    cpu: CpuResult | None,
    memory: MemoryResult | None,
    top: int,
    max_raw_bytes: int,
    max_record_bytes: int,
    clean: Callable[[str], str],
) -> tuple[ProfileReport, list[ProfileChunk]]:
    target = facts.target
    fields: dict[str, Any] = {
        "id": new_id(), "ts": facts.ended, "host": facts.host, "session": facts.session,
        "pid": target.pid, "kind": facts.kind, "started": facts.started, "ended": facts.ended,
        "process": target.name, "command": clean(target.cmdline),
        "service": target.service, "version": target.version,
        "rate_hz": facts.rate_hz,
    }  # fmt: skip
    chunks: list[ProfileChunk] = []
    notes: list[str] = []
    if cpu is not None:
        stacks = parse_collapsed(cpu.collapsed)
        raw, omitted = trim(stacks, max_raw_bytes, clean)
        chunks = _chunks(facts, raw, max_record_bytes)
        fields.update(
            samples=stacks.samples, functions=_clean_functions(function_table(stacks, top), clean),
            hot_paths=[_clean_path(p, clean) for p in hot_paths(stacks, top)],
            overhead=cpu.overhead, raw_format="collapsed", raw_chunks=len(chunks),
            raw_bytes=len(raw.encode()), raw_omitted_samples=omitted,
        )  # fmt: skip
        if cpu.stopped_early:
            notes.append("stopped before its duration")
    if memory is not None:
        fields.update(
            allocations=allocation_sites(memory, top), snapshots=len(memory.snapshots),
            rss_bytes=memory.rss_bytes, rss_ts=memory.rss_ts,
            rss_growth_bytes=memory.rss_bytes[-1] - memory.rss_bytes[0] if memory.rss_bytes else 0,
        )  # fmt: skip
        if memory.service:
            fields["service"], fields["version"] = memory.service, memory.version
        notes += memory.notes
        if memory.stopped_early:
            notes.append("stopped before its duration")
    return ProfileReport(**fields, notes=notes), chunks


def _clean_functions(rows: list[FunctionTime], clean: Callable[[str], str]) -> list[FunctionTime]:
    return [replace(r, file=clean(r.file)) for r in rows]


def _clean_path(path: HotPath, clean: Callable[[str], str]) -> HotPath:
    return replace(path, frames=[clean(f) for f in path.frames])


def _chunks(facts: SessionFacts, raw: str, max_record_bytes: int) -> list[ProfileChunk]:
    size = max(1024, max_record_bytes - _ENVELOPE_BYTES)
    while True:
        pieces = chunk_text(raw, size)
        chunks = [
            ProfileChunk(id=new_id(), ts=facts.ended, host=facts.host, session=facts.session,
                         index=i, count=len(pieces), format="collapsed", data=piece)
            for i, piece in enumerate(pieces)
        ]  # fmt: skip
        # JSON escapes can make a chunk's record longer than its text: cut finer then.
        if all(len(encode(c)) <= max_record_bytes for c in chunks) or size <= 1024:
            return chunks
        size //= 2
