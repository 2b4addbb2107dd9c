"""A memory session: RSS of any process from /proc, and tracemalloc snapshots of a Python
service that opted in (agents.profiling.sdk), taken every snapshot interval.

The service's socket is reached through /proc/PID/root, under the pid the service sees
itself as, so a service in a container needs no volume shared with the agent; a socket not
owned by the service's user is ignored (anyone may create files in /tmp).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.profiling.errors import SessionError
from agents.profiling.target import Target, rss_bytes
from schemas.profiles import AllocationSite

__all__ = ["MemoryResult", "allocation_sites", "run_memory", "sdk_identity", "sdk_socket"]

_SDK_TIMEOUT = 10.0
_SITES_PER_SNAPSHOT = 200


@dataclass(slots=True)
class MemoryResult:
    rss_ts: list[float] = field(default_factory=list)
    rss_bytes: list[int] = field(default_factory=list)
    #: one mapping per snapshot: site -> (bytes, count)
    snapshots: list[dict[str, tuple[int, int]]] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)
    service: str = ""
    version: str = ""
    notes: list[str] = field(default_factory=list)
    stopped_early: bool = False


def sdk_socket(target: Target, socket_dir: Path, proc: Path = Path("/proc")) -> Path | None:
    """The service's socket if it opted in and the socket is its own, else None."""
    inside = socket_dir.relative_to(socket_dir.anchor) / f"{target.namespace_pid}.sock"
    path = proc / str(target.pid) / "root" / inside
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != target.uid:
        return None
    return path


async def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=2**24), _SDK_TIMEOUT
        )
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), _SDK_TIMEOUT)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        reply = json.loads(line)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SessionError(f"memory SDK of the service did not answer: {exc!r}") from None
    if not isinstance(reply, dict) or not reply.get("ok"):
        raise SessionError(f"memory SDK refused {request.get('op')}: {reply!r}"[:300])
    return reply


async def sdk_identity(target: Target, socket_dir: Path) -> tuple[str, str]:
    """(service, version) the service gave the SDK, or empty strings."""
    sock = sdk_socket(target, socket_dir)
    if sock is None:
        return "", ""
    try:
        hello = await _ask(sock, {"op": "hello"})
    except SessionError:
        return "", ""
    return str(hello.get("service", "")), str(hello.get("version", ""))


async def run_memory(
    target: Target,
    duration: float,
    interval: float,
    socket_dir: Path,
    *,
    stop: asyncio.Event,
    clean: Callable[[str], str],
) -> MemoryResult:
    result = MemoryResult()
    sock = sdk_socket(target, socket_dir)
    if sock is None:
        result.notes.append(
            "no tracemalloc snapshots: the process did not opt in (agents.profiling.sdk); RSS only"
        )
    else:
        try:
            hello = await _ask(sock, {"op": "start", "frames": 1,
                                      "lease_seconds": 3 * interval + 10})  # fmt: skip
        except SessionError as exc:
            result.notes.append(f"no tracemalloc snapshots: {exc}; RSS only")
            sock = None
        else:
            result.service = str(hello.get("service", ""))
            result.version = str(hello.get("version", ""))
    deadline = time.monotonic() + duration
    try:
        while True:
            rss = rss_bytes(target.pid)
            if rss is None:
                result.notes.append(f"process {target.pid} exited during the session")
                break
            result.rss_ts.append(round(time.time(), 3))
            result.rss_bytes.append(rss)
            if sock is not None:
                reply = await _ask(sock, {"op": "snapshot", "top": _SITES_PER_SNAPSHOT})
                sites = {}
                for s in reply.get("sites", []):
                    site = clean(f"{s['file']}:{s['line']}")
                    sites[site] = (int(s["size"]), int(s["count"]))
                    result.code.setdefault(site, clean(str(s.get("code", ""))))
                result.snapshots.append(sites)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(interval, remaining))
            if stop.is_set():
                result.stopped_early = True
                break
    finally:
        if sock is not None:
            with contextlib.suppress(SessionError):
                await _ask(sock, {"op": "stop"})
    return result


def allocation_sites(result: MemoryResult, top: int) -> list[AllocationSite]:
    """The ``top`` sites by growth over the session (then by final size). Pure."""
    snapshots = result.snapshots
    if not snapshots:
        return []
    names = set().union(*snapshots)
    rows = []
    for site in names:
        sizes = [snap.get(site, (0, 0))[0] for snap in snapshots]
        counts = [snap.get(site, (0, 0))[1] for snap in snapshots]
        rows.append(
            AllocationSite(site=site, sizes=sizes, counts=counts,
                           growth_bytes=sizes[-1] - sizes[0], code=result.code.get(site, ""))
        )  # fmt: skip
    rows.sort(key=lambda r: (-r.growth_bytes, -r.sizes[-1], r.site))
    return rows[:top]
