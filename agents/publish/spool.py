"""The disk spool: append-only segment files, a CRC32 per record, a size cap, replay in order.

Record layout: MAGIC(4) | crc32(4) | length(4) | payload(length); the CRC covers the
length field and the payload. A torn write (power loss) or flipped bits make a region
that fails the check; the reader counts it and resynchronises on the next MAGIC, so a
corrupt file is skipped past, never a crash loop. Segments left by an earlier process are
replayed first (oldest sequence number first); this process writes to new segments only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from agents.errors import AgentError
from agents.ratelog import RateLimitedLog

__all__ = ["Spool", "SpoolAppend", "SpoolLockedError", "decode_payload", "encode_payload"]

log = logging.getLogger("toka.agent.spool")


class SpoolLockedError(AgentError):
    pass


MAGIC = b"TKS1"
_HEADER = struct.Struct(">4sII")  # magic, crc32, length
_MAX_LEN = 64 * 1024 * 1024

_Row = tuple[str, bytes, bytes]  # topic, key, value
SpoolAppend = Literal["ok", "dropped_oldest", "refused"]


def encode_payload(topic: str, key: bytes, value: bytes) -> bytes:
    t = topic.encode()
    return struct.pack(">HI", len(t), len(key)) + t + key + value


def decode_payload(payload: bytes) -> _Row:
    tlen, klen = struct.unpack_from(">HI", payload)
    o = 6
    topic = payload[o : o + tlen].decode()
    o += tlen
    return topic, payload[o : o + klen], payload[o + klen :]


def _frame(payload: bytes) -> bytes:
    length = struct.pack(">I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(length))
    return MAGIC + struct.pack(">I", crc) + length + payload


def _lock_dir(directory: Path) -> BinaryIO:
    """One process per spool directory: two writers would interleave sequence numbers."""
    f = open(directory / ".lock", "wb")  # noqa: SIM115 - held for the spool's lifetime
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SpoolLockedError(
            f"spool directory {directory} is in use by another process"
        ) from None
    return f


@dataclass(slots=True)
class _Segment:
    path: Path
    size: int
    records: int  # records not yet consumed
    read_offset: int = 0


class Spool:
    """Not thread-safe: one event loop owns it. ``on_corrupt`` is called per skipped region."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        *,
        segment_bytes: int = 4 * 1024 * 1024,
        drop_policy: Literal["oldest", "newest"] = "oldest",
        fsync: bool = False,
        on_corrupt: Callable[[Path, int], None] | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock: BinaryIO | None = _lock_dir(self.dir)
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max_bytes)
        self.drop_policy = drop_policy
        self.fsync = fsync
        self._on_corrupt = on_corrupt or (lambda p, off: None)
        self._segments: list[_Segment] = []
        self._writer: BinaryIO | None = None
        self._next_seq = 0
        self._peeked: list[int] = []
        self._peeked_seg: _Segment | None = None
        self._log = RateLimitedLog(log)
        self.dropped = 0
        for path in sorted(self.dir.glob("*.seg")):
            if not path.stem.isdigit():  # not ours (a copy, an editor's backup): left alone
                self._log.log(logging.WARNING, "stray", "spool: ignoring %s (not a segment)", path)
                continue
            self._segments.append(_Segment(path, path.stat().st_size, self._count(path)))
            self._next_seq = max(self._next_seq, int(path.stem) + 1)

    # -- sizes ------------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return sum(s.size - s.read_offset for s in self._segments)

    @property
    def records(self) -> int:
        return sum(s.records for s in self._segments)

    def __len__(self) -> int:
        return self.records

    def __bool__(self) -> bool:
        return self.records > 0

    # -- writing ----------------------------------------------------------------------------

    def append(self, topic: str, key: bytes, value: bytes) -> SpoolAppend:
        frame = _frame(encode_payload(topic, key, value))
        outcome: SpoolAppend = "ok"
        while self.size_bytes + len(frame) > self.max_bytes:
            if self.drop_policy == "newest" or not self._segments:
                self.dropped += 1
                return "refused"
            self._drop_oldest_segment()
            outcome = "dropped_oldest"
        seg = self._active_segment(len(frame))
        assert self._writer is not None
        self._writer.write(frame)
        self._writer.flush()  # into the page cache: survives a crash of this process
        if self.fsync:
            os.fsync(self._writer.fileno())
        seg.size += len(frame)
        seg.records += 1
        return outcome

    def _active_segment(self, incoming: int) -> _Segment:
        seg = self._segments[-1] if self._writer is not None else None
        if seg is not None and seg.size + incoming <= self.segment_bytes:
            return seg
        self._close_writer()
        path = self.dir / f"{self._next_seq:012d}.seg"
        self._next_seq += 1
        self._writer = open(path, "ab")  # noqa: SIM115 - held open across appends
        seg = _Segment(path, 0, 0)
        self._segments.append(seg)
        return seg

    def _drop_oldest_segment(self) -> None:
        seg = self._segments[0]
        if self._writer is not None and len(self._segments) == 1:
            self._close_writer()
        self._segments.pop(0)
        self.dropped += seg.records
        self._log.log(logging.WARNING, "full", "spool full: dropped %d oldest records", seg.records)
        seg.path.unlink(missing_ok=True)

    def _close_writer(self) -> None:
        if self._writer is not None:
            if self.fsync:
                os.fsync(self._writer.fileno())
            self._writer.close()
            self._writer = None

    # -- reading ----------------------------------------------------------------------------

    def peek(self, max_records: int) -> list[_Row]:
        """Up to ``max_records`` of the oldest records, without consuming them."""
        while True:
            self._skip_empty()
            if not self._segments:
                self._peeked = []
                return []
            seg = self._segments[0]
            out, ends = self._read(seg, max_records)
            if out:
                self._peeked, self._peeked_seg = ends, seg
                return out
            # Only corrupt bytes were left in this segment: it is done.
            seg.read_offset, seg.records = seg.size, 0

    def commit(self, n: int) -> None:
        """Consume the first ``n`` records that the last ``peek`` returned."""
        if not self._segments or n <= 0:
            return
        seg = self._segments[0]
        if seg is not self._peeked_seg:
            # Dropped (spool full) while its records were being sent: already accounted for.
            self._peeked = []
            return
        seg.read_offset = self._peeked[n - 1]
        seg.records = max(0, seg.records - n)
        if seg.read_offset >= seg.size and self._writer is None:
            seg.records = 0  # corrupt regions made the estimate high
        self._peeked = []
        self._skip_empty()

    def _skip_empty(self) -> None:
        while self._segments:
            seg = self._segments[0]
            if seg.records > 0 and seg.read_offset < seg.size:
                return
            if seg.read_offset < seg.size and seg is self._segments[-1] and self._writer:
                return  # the active segment, with nothing unread yet
            if self._writer is not None and len(self._segments) == 1:
                self._close_writer()
            self._segments.pop(0)
            seg.path.unlink(missing_ok=True)

    def _read(self, seg: _Segment, max_records: int) -> tuple[list[_Row], list[int]]:
        out: list[_Row] = []
        ends: list[int] = []
        with open(seg.path, "rb") as f:
            f.seek(seg.read_offset)
            offset = seg.read_offset
            while len(out) < max_records and offset < seg.size:
                rec, offset = self._read_one(f, seg, offset)
                if rec is not None:
                    out.append(rec)
                    ends.append(offset)
                elif ends:  # a skipped region is consumed with the record before it
                    ends[-1] = offset
        return out, ends

    def _read_one(self, f: BinaryIO, seg: _Segment, offset: int) -> tuple[_Row | None, int]:
        header = f.read(_HEADER.size)
        if len(header) == _HEADER.size:
            magic, crc, length = _HEADER.unpack(header)
            if magic == MAGIC and length <= _MAX_LEN and offset + 12 + length <= seg.size:
                payload = f.read(length)
                if zlib.crc32(payload, zlib.crc32(header[8:])) == crc:
                    try:
                        return decode_payload(payload), offset + _HEADER.size + length
                    except (struct.error, UnicodeDecodeError):
                        pass
        return None, self._resync(f, seg, offset)

    def _resync(self, f: BinaryIO, seg: _Segment, offset: int) -> int:
        """Skip a corrupt region: continue at the next MAGIC after ``offset`` (or the end)."""
        self._on_corrupt(seg.path, offset)
        self._log.log(logging.WARNING, "corrupt", "spool: corrupt data in %s at byte %d; skipped",
                      seg.path.name, offset)  # fmt: skip
        f.seek(offset + 1)
        found = f.read(seg.size - offset - 1).find(MAGIC)
        new = seg.size if found < 0 else offset + 1 + found
        f.seek(new)
        return new

    @staticmethod
    def _count(path: Path) -> int:
        """Frames in a segment left by an earlier process (CRCs are checked on replay)."""
        data = path.read_bytes()
        n = offset = 0
        while (offset := data.find(MAGIC, offset)) >= 0 and offset + _HEADER.size <= len(data):
            _magic, _crc, length = _HEADER.unpack_from(data, offset)
            n += 1
            offset += _HEADER.size + (length if length <= _MAX_LEN else 0) or 1
        return n

    def close(self) -> None:
        self._close_writer()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
