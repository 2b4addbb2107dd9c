"""A CPU session: py-spy samples the target's Python stacks into collapsed stacks.

py-spy runs as a child of the agent that the kernel kills when the agent dies
(PR_SET_PDEATHSIG), so a session never outlives the agent; ``stop`` ends it early with
SIGINT, on which py-spy still writes what it sampled. Its own CPU time and peak memory,
read from /proc while it runs, are the session's overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agents.profiling.errors import SessionError
from agents.profiling.target import cpu_seconds_and_peak_rss
from schemas.profiles import SessionOverhead

__all__ = ["CpuResult", "find_pyspy", "run_cpu"]

_COUNTS = re.compile(r"Samples: (\d+) Errors: (\d+)")
_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class CpuResult:
    collapsed: str
    overhead: SessionOverhead
    stopped_early: bool


def find_pyspy() -> str | None:
    """py-spy next to this interpreter (the agent's virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork


async def run_cpu(
    pyspy: str, pid: int, duration: float, rate_hz: int, *, nonblocking: bool, stop: asyncio.Event
) -> CpuResult:
    """Raises SessionError with py-spy's own message when it fails."""
    with tempfile.TemporaryDirectory(prefix="toka-profile-") as tmp:
        out = Path(tmp) / "stacks.txt"
        args = [pyspy, "record", "--pid", str(pid), "--format", "raw", "--function",
                "--rate", str(rate_hz), "--duration", str(max(1, round(duration))),
                "--output", str(out)]  # fmt: skip
        if nonblocking:
            args.append("--nonblocking")
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        usage = (0.0, 0)
        stopped = False
        messages_task = asyncio.ensure_future(proc.stdout.read())  # type: ignore[union-attr]
        try:
            while proc.returncode is None:
                usage = cpu_seconds_and_peak_rss(proc.pid) or usage
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), _POLL_SECONDS)
                if stop.is_set() and proc.returncode is None and not stopped:
                    proc.send_signal(signal.SIGINT)  # py-spy writes what it has, then exits
                    stopped = True
        finally:
            if proc.returncode is None:  # cancelled: the agent is closing
                proc.kill()
                await proc.wait()
        wall = time.monotonic() - started
        messages = (await messages_task).decode(errors="replace")
        if proc.returncode != 0 or not out.exists():
            lines = [ln for ln in messages.splitlines() if ln.strip() and not ln.startswith(" ")]
            found = [ln for ln in lines if ln.startswith("Error")] or lines[-1:] or [""]
            message = found[0]
            raise SessionError(f"py-spy exited with {proc.returncode}: {message[:300]}")
        collapsed = out.read_text(errors="replace")
    counts = _COUNTS.search(messages)
    samples, errors = (int(counts[1]), int(counts[2])) if counts else (0, 0)
    cpu, peak = usage
    return CpuResult(
        collapsed,
        SessionOverhead(
            cpu_seconds=round(cpu, 3),
            cpu_percent=round(100 * cpu / wall, 2) if wall else 0.0,
            max_rss_bytes=peak,
            samples=samples,
            sample_errors=errors,
            blocking=not nonblocking,
        ),  # fmt: skip
        stopped,
    )
