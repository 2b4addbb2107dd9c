"""Sessions on a real Python process: reports name the hot function and the leaking list;
refusals say why; a stopped session still reports; closing the agent ends its sessions."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec

from agents.profiling.sessions import SessionManager
from schemas.config.profiling import ProfilingConfig
from schemas.profiles import ProfileChunk, ProfileCommand, ProfileReport, ProfileStatus


def _manager(
    tmp_path: Path, out: list[msgspec.Struct], enabled: bool = True, **settings
) -> SessionManager:  # type: ignore[no-untyped-def]
    cfg = ProfilingConfig(**{"sdk_socket_dir": tmp_path / "sdk", "snapshot_interval_seconds": 0.4,
                             **settings})  # fmt: skip
    return SessionManager("h", cfg, enabled=enabled, emit=out.append, max_record_bytes=2000)


def _start(pid: int, **fields: object) -> ProfileCommand:
    base: dict = {"id": f"s{time.monotonic_ns()}", "ts": time.time(), "host": "h",
                  "action": "start", "expires_at": time.time() + 30, "pid": pid,
                  "duration_seconds": 2.0}  # fmt: skip
    return ProfileCommand(**{**base, **fields})


def _states(out: list[msgspec.Struct], session: str) -> list[str]:
    return [r.state for r in out if isinstance(r, ProfileStatus) and r.session == session]


async def _finish(manager: SessionManager, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while manager.running and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not manager.running


async def test_cpu_session_names_the_hot_function(tmp_path, start_target) -> None:  # type: ignore[no-untyped-def]
    target = start_target()
    out: list[msgspec.Struct] = []
    manager = _manager(tmp_path, out)
    cmd = _start(target.pid, rate_hz=100)
    manager.handle(cmd)
    await _finish(manager)
    assert _states(out, cmd.id) == ["accepted", "running", "done"]
    [report] = [r for r in out if isinstance(r, ProfileReport)]
    top = report.functions[0]
    assert (top.function, top.file) == ("hot_function", "target_app.py")
    assert top.self_share > 0.3 and report.samples > 50
    assert report.hot_paths[0].frames[-1].startswith("hot_function (target_app.py:")
    assert report.overhead is not None and report.overhead.samples > 0
    assert report.overhead.cpu_seconds >= 0 and report.overhead.max_rss_bytes > 0
    # the raw profile: chunks within the record limit, joined in order they are the stacks
    chunks = [r for r in out if isinstance(r, ProfileChunk)]
    assert len(chunks) == report.raw_chunks >= 1
    assert all(len(msgspec.json.encode(c)) <= 2000 for c in chunks)
    raw = "".join(c.data for c in sorted(chunks, key=lambda c: c.index))
    assert "hot_function" in raw and len(raw.encode()) == report.raw_bytes


async def test_memory_session_names_the_leaking_list(tmp_path, start_target) -> None:  # type: ignore[no-untyped-def]
    target = start_target(version="2.1")
    out: list[msgspec.Struct] = []
    manager = _manager(tmp_path, out)
    cmd = _start(target.pid, kind="memory", duration_seconds=3.0)
    manager.handle(cmd)
    await _finish(manager)
    assert _states(out, cmd.id) == ["accepted", "running", "done"], out
    [report] = [r for r in out if isinstance(r, ProfileReport)]
    assert (report.service, report.version) == ("shop", "2.1")
    assert report.snapshots >= 3 and len(report.rss_bytes) == report.snapshots
    top = report.allocations[0]
    assert "leaking_list.append" in top.code and top.site.startswith(str(Path(__file__).parent))
    assert top.growth_bytes > 100_000 and top.sizes == sorted(top.sizes)


async def test_memory_session_without_the_sdk_reads_rss(tmp_path, start_target) -> None:  # type: ignore[no-untyped-def]
    target = start_target("--no-sdk")
    out: list[msgspec.Struct] = []
    manager = _manager(tmp_path, out)
    manager.handle(_start(target.pid, kind="memory", duration_seconds=1.0))
    await _finish(manager)
    [report] = [r for r in out if isinstance(r, ProfileReport)]
    assert report.allocations == [] and len(report.rss_bytes) >= 2
    assert any("did not opt in" in note for note in report.notes)


async def test_refusals(tmp_path, start_target) -> None:  # type: ignore[no-untyped-def]
    target = start_target()
    out: list[msgspec.Struct] = []

    def reason(manager: SessionManager, cmd: ProfileCommand) -> str:
        manager.handle(cmd)
        [status] = [r for r in out if isinstance(r, ProfileStatus) and r.session == cmd.id]
        assert status.state == "refused"
        return status.reason

    off = _manager(tmp_path, out, enabled=False)
    assert "profiling is disabled" in reason(off, _start(target.pid))
    strict = _manager(tmp_path, out, processes=["java"])
    assert "matches none of agent.profiling.processes" in reason(strict, _start(target.pid))
    on = _manager(tmp_path, out)
    assert "expired" in reason(on, _start(target.pid, expires_at=time.time() - 10))
    first = _start(target.pid, duration_seconds=10.0)
    on.handle(first)
    assert "already running on process" in reason(on, _start(target.pid, kind="memory"))
    # a stop ends it early, and what was sampled is still reported
    on.handle(ProfileCommand(id="stop1", ts=time.time(), host="h", action="stop",
                             expires_at=time.time() + 30, session=first.id))  # fmt: skip
    await _finish(on, timeout=15)
    assert _states(out, first.id) == ["accepted", "running", "stopped"]
    assert any(isinstance(r, ProfileReport) and r.session == first.id for r in out)
    # the same command delivered twice runs once; another host's command is ignored
    n = len(out)
    on.handle(first)
    on.handle(msgspec.structs.replace(_start(target.pid), host="other"))
    assert len(out) == n


async def test_closing_ends_sessions_and_their_profiler(tmp_path, start_target) -> None:  # type: ignore[no-untyped-def]
    target = start_target()
    out: list[msgspec.Struct] = []
    manager = _manager(tmp_path, out)
    cmd = _start(target.pid, duration_seconds=60.0)
    manager.handle(cmd)
    await asyncio.sleep(1.5)
    children = _children(os.getpid())
    assert any("py-spy" in name for name in children.values())
    await manager.close()
    assert not manager.running
    assert _states(out, cmd.id)[-1] in ("stopped", "done")
    assert not any("py-spy" in name for name in _children(os.getpid()).values())


def _children(pid: int) -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                out[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
    return out


def test_the_command_gate_has_its_word(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out: list[msgspec.Struct] = []
    outcomes: list[str] = []
    cfg = ProfilingConfig(commands={"subjects": ["cpu"], "max_per_minute": 1})
    manager = SessionManager("h", cfg, enabled=True, emit=out.append,
                             on_outcome=lambda o: outcomes.append(o.outcome))  # fmt: skip
    gone = 2**22 + 7  # above Linux's default pid_max: no such process
    for cmd in (_start(gone), _start(gone), _start(gone, kind="memory")):
        manager.handle(cmd)
    reasons = [r.reason for r in out if isinstance(r, ProfileStatus)]
    assert reasons == [
        f"no process {gone} on this host (or not readable by the agent)",
        "refused by agent.profiling.commands: rate_limited",
        "refused by agent.profiling.commands: subject",
    ]
    assert outcomes == ["refused_policy", "refused_rate_limited", "refused_subject"]


async def test_a_process_that_is_not_python(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """CPU: py-spy's own reason, as a failed status. Memory: its RSS, as for any process."""
    import subprocess

    native = subprocess.Popen(["sleep", "60"])
    try:
        await asyncio.sleep(0.3)
        out: list[msgspec.Struct] = []
        manager = _manager(tmp_path, out)
        cpu, memory = _start(native.pid), _start(native.pid, kind="memory", duration_seconds=1.0)
        manager.handle(cpu)
        await _finish(manager)
        manager.handle(memory)
        await _finish(manager)
        [failed] = [r for r in out if isinstance(r, ProfileStatus) and r.state == "failed"]
        assert failed.session == cpu.id and "py-spy exited" in failed.reason
        assert "python" in failed.reason.lower()
        [report] = [r for r in out if isinstance(r, ProfileReport)]
        assert report.session == memory.id and report.process == "sleep"
        assert len(report.rss_bytes) >= 2 and report.rss_bytes[0] > 0
    finally:
        native.kill()
        native.wait()
