"""What the agent knows about a process it may profile, read from /proc (Linux).

Service and version come from the OpenTelemetry variables of the process's environment
(``OTEL_SERVICE_NAME``, ``service.version`` in ``OTEL_RESOURCE_ATTRIBUTES``) when the agent
may read it; nothing else of the environment is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Target", "cpu_seconds_and_peak_rss", "read_target", "rss_bytes"]

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Target:
    pid: int
    name: str
    cmdline: str
    uid: int
    #: The pid as the process sees itself (its own PID namespace: a container's).
    namespace_pid: int
    service: str = ""
    version: str = ""


def read_target(pid: int, proc: Path = _PROC) -> Target | None:
    """None when there is no such process (or it is a kernel thread: no command line)."""
    base = proc / str(pid)
    try:
        name = (base / "comm").read_text().strip()
        raw = (base / "cmdline").read_bytes()
        status = _status(base)
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except PermissionError:
        return None
    if not raw:
        return None
    cmdline = " ".join(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))
    uid = int(status.get("Uid", "0").split()[0])
    nspid = int(status.get("NSpid", str(pid)).split()[-1])
    service, version = _otel_identity(base)
    return Target(pid, name, cmdline, uid, nspid, service, version)


def rss_bytes(pid: int, proc: Path = _PROC) -> int | None:
    """Resident memory now, or None when the process is gone."""
    try:
        kib = _status(proc / str(pid)).get("VmRSS")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(kib.split()[0]) * 1024 if kib else None


def cpu_seconds_and_peak_rss(pid: int, proc: Path = _PROC) -> tuple[float, int] | None:
    """User+system CPU seconds and peak RSS (VmHWM) of a process, or None when gone."""
    import os

    base = proc / str(pid)
    try:
        stat = (base / "stat").read_text()
        status = _status(base)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces and parens
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    peak = status.get("VmHWM")
    return cpu, int(peak.split()[0]) * 1024 if peak else 0


def _status(base: Path) -> dict[str, str]:
    out = {}
    for line in (base / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _otel_identity(base: Path) -> tuple[str, str]:
    try:
        environ = (base / "environ").read_bytes()
    except OSError:
        return "", ""
    service = version = ""
    for entry in environ.split(b"\0"):
        if entry.startswith(b"OTEL_SERVICE_NAME="):
            service = entry.split(b"=", 1)[1].decode(errors="replace")
        elif entry.startswith(b"OTEL_RESOURCE_ATTRIBUTES="):
            for pair in entry.split(b"=", 1)[1].decode(errors="replace").split(","):
                key, _, value = pair.partition("=")
                if key.strip() == "service.version":
                    version = value.strip()
                elif key.strip() == "service.name" and not service:
                    service = value.strip()
    return service, version
