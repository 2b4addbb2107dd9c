"""``toka profile start|stop|list|show``: profiling sessions run by the agents.

``start`` sends a command keyed by host to ``toka.profile-commands`` with an expiry, then
waits for the agent's answer on ``toka.profiles`` (accepted or refused, with the reason);
``--follow`` waits for the report too. ``list`` and ``show`` read ``toka.profiles``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.cli.common import config_from_args

__all__ = ["parse_seconds", "register"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_FINAL = ("refused", "done", "failed", "stopped")


def parse_seconds(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1.5h`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"expected a duration such as 60s or 2m, got {text!r}")
    return float(m[1]) * _UNITS[m[2]]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="CPU and memory profiling sessions run by the agents")
    psub = p.add_subparsers(dest="profile_command", required=True)
    start = psub.add_parser("start", help="ask a host's agent to profile a process")
    start.add_argument("--host", required=True, help="the agent's host name (agent.host)")
    start.add_argument("--pid", type=int, required=True)
    start.add_argument("--duration", type=parse_seconds, default=60.0, help="e.g. 60s, 5m")
    start.add_argument("--kind", choices=["cpu", "memory"], default="cpu")
    start.add_argument("--rate", type=int, default=0, help="samples/s (default: the agent's)")
    start.add_argument("--expires", type=parse_seconds, default=60.0,
                       help="the agent ignores the command after this long")  # fmt: skip
    start.add_argument("--wait", type=parse_seconds, default=20.0,
                       help="how long to wait for the agent's answer")  # fmt: skip
    start.add_argument("--follow", action="store_true", help="wait for the report, print it")
    start.add_argument("--by", default="", help="who asks (kept in the status records)")
    start.set_defaults(func=run_start)
    stop = psub.add_parser("stop", help="end a running session early (it still reports)")
    stop.add_argument("session")
    stop.add_argument("--host", default=None, help="default: looked up in toka.profiles")
    stop.add_argument("--timeout", type=float, default=10.0)
    stop.set_defaults(func=run_stop)
    ls = psub.add_parser("list", help="sessions and their state, from toka.profiles")
    ls.add_argument("--host", default=None)
    ls.add_argument("--timeout", type=float, default=10.0, help="seconds to read the topic")
    ls.set_defaults(func=run_list)
    show = psub.add_parser("show", help="a session's report and what the analysis finds")
    show.add_argument("session")
    show.add_argument(
        "--raw", type=Path, default=None,
        help="write the collapsed stacks here (speedscope, flamegraph.pl)",
    )  # fmt: skip
    show.add_argument("--timeout", type=float, default=10.0)
    show.set_defaults(func=run_show)


# -- start / stop ---------------------------------------------------------------------------


def run_start(args: argparse.Namespace) -> int:
    from schemas.profiles import ProfileCommand
    from schemas.records import new_id

    cfg = config_from_args(args)
    now = time.time()
    command = ProfileCommand(
        id=new_id(), ts=now, host=args.host, action="start", expires_at=now + args.expires,
        pid=args.pid, kind=args.kind, duration_seconds=args.duration, rate_hz=args.rate,
        requested_by=args.by,
    )  # fmt: skip
    wait = args.wait + (args.duration + 30 if args.follow else 0)
    finals = _FINAL if args.follow else ("accepted", *_FINAL)
    status = asyncio.run(_send_and_wait(cfg, command, finals, wait))
    if status is None:
        print(f"toka profile: no answer from {args.host} in {wait:g}s (is its agent running, "
              "and reading this cluster's topics?)", file=sys.stderr)  # fmt: skip
        return 3
    print(f"{command.id}: {status.state}" + (f": {status.reason}" if status.reason else ""))
    if status.state in ("refused", "failed"):
        return 1
    if args.follow:
        return _show(cfg, command.id, None, 10.0)
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from schemas.profiles import ProfileCommand
    from schemas.records import new_id

    cfg = config_from_args(args)
    host = args.host
    if host is None:
        view = _sessions(cfg, args.timeout).get(args.session)
        if view is None:
            print(f"toka profile: no session {args.session} in toka.profiles", file=sys.stderr)
            return 1
        host = view.host
    now = time.time()
    command = ProfileCommand(id=new_id(), ts=now, host=host, action="stop", expires_at=now + 60,
                             session=args.session)  # fmt: skip
    status = asyncio.run(_send_and_wait(cfg, command, _FINAL, args.timeout, args.session))
    if status is None:
        print(f"{args.session}: stop sent to {host}; no final status within {args.timeout:g}s")
        return 0
    print(f"{args.session}: {status.state}" + (f": {status.reason}" if status.reason else ""))
    return 1 if status.state == "refused" else 0


async def _send_and_wait(
    cfg: Any, command: Any, states: tuple[str, ...], timeout: float, session: str | None = None
) -> Any:
    """Send ``command``; the first status of ``session`` (default: the command's) in
    ``states`` within ``timeout``, or None. Reading starts before sending."""
    from aiokafka import AIOKafkaProducer

    from schemas.codec import decode, encode
    from schemas.errors import DecodeError
    from schemas.profiles import ProfileStatus

    session = session or command.id
    consumer = await _consumer_at_end(cfg)
    try:
        producer = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(cfg.kafka.topic("profile-commands"), encode(command),
                                         key=command.host.encode())  # fmt: skip
        finally:
            await producer.stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    try:
                        record = decode(message.value)
                    except DecodeError:
                        continue
                    if (isinstance(record, ProfileStatus) and record.session == session
                            and record.state in states):  # fmt: skip
                        return record
        return None
    finally:
        await consumer.stop()


async def _consumer_at_end(cfg: Any) -> Any:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = cfg.kafka.topic("profiles")
    consumer = AIOKafkaConsumer(**cfg.kafka.client_options(), enable_auto_commit=False)
    await consumer.start()
    await consumer._client.force_metadata_update()
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        await consumer.stop()
        from schemas.errors import TokaError

        raise TokaError(f"topic {topic} does not exist: has a worker or `toka up` created it?")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    return consumer


# -- list / show ----------------------------------------------------------------------------


def _sessions(cfg: Any, timeout: float) -> dict[str, Any]:
    from pipeline.profiles.history import sessions

    return sessions(asyncio.run(_read_all(cfg, timeout)))


async def _read_all(cfg: Any, timeout: float) -> list[Any]:
    """Every decodable record of toka.profiles, read to its end."""
    from aiokafka import AIOKafkaConsumer

    from schemas.codec import decode
    from schemas.errors import DecodeError

    consumer = AIOKafkaConsumer(
        cfg.kafka.topic("profiles"), **cfg.kafka.client_options(),
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    try:
                        out.append(decode(message.value))
                    except DecodeError:
                        continue
            if not batches and consumer.assignment():
                break  # a quiet poll once assigned: the end (the broker's end offset can lag)
    finally:
        await consumer.stop()
    return out


def run_list(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    views = [v for v in _sessions(cfg, args.timeout).values() if args.host in (None, v.host)]
    print(f"{'session':32} {'host':20} {'pid':>7} {'process':16} {'kind':6} {'state':9} "
          f"{'when':19} reason")  # fmt: skip
    for v in views:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.first_ts))
        print(f"{v.session:32} {v.host:20} {v.pid:>7} {v.process[:16]:16} {v.kind:6} "
              f"{v.state:9} {when:19} {v.reason}")  # fmt: skip
    return 0


def run_show(args: argparse.Namespace) -> int:
    return _show(config_from_args(args), args.session, args.raw, args.timeout)


def _show(cfg: Any, session: str, raw_path: Path | None, timeout: float) -> int:
    from pipeline.profiles.analysis import ProfileBaselines, analyse
    from pipeline.profiles.history import raw_profile

    view = _sessions(cfg, timeout).get(session)
    if view is None or view.report is None:
        state = f" (state: {view.state} {view.reason})" if view else ""
        print(f"toka profile: no report for session {session}{state}", file=sys.stderr)
        return 1
    report = view.report
    print(f"session {session}: {report.kind} profile of pid {report.pid} ({report.process}) on "
          f"{report.host}, {report.ended - report.started:.1f}s, service {report.service or '-'} "
          f"{report.version}")  # fmt: skip
    for f in report.functions[:15]:
        print(f"  {f.self_share:6.1%} self {f.total_share:6.1%} total  {f.function} "
              f"({f.file}:{f.line})")  # fmt: skip
    for a in report.allocations[:15]:
        print(f"  {a.growth_bytes:>12,} B growth {a.sizes[-1]:>12,} B held  {a.site}  {a.code}")
    if report.rss_bytes:
        print(f"  rss {report.rss_bytes[0]:,} -> {report.rss_bytes[-1]:,} B")
    if report.overhead is not None:
        o = report.overhead
        print(f"  overhead: profiler {o.cpu_seconds:.2f} CPU s ({o.cpu_percent:.1f}% of a core), "
              f"{o.max_rss_bytes / 2**20:.0f} MiB; {o.samples} samples, "
              f"{o.sample_errors} errors")  # fmt: skip
    for note in report.notes:
        print(f"  note: {note}")
    findings = view.findings or analyse(ProfileBaselines(), report, cfg.analytics.profiles)
    for finding in findings:
        print(f"  finding [{finding.severity}] {finding.kind}: {finding.summary}")
    if raw_path is not None:
        raw = raw_profile(view)
        if raw is None:
            print(f"toka profile: raw profile incomplete ({len(view.chunks)} of "
                  f"{report.raw_chunks} chunks)", file=sys.stderr)  # fmt: skip
            return 1
        raw_path.write_text(raw)
        print(f"  raw profile ({report.raw_format}) written to {raw_path}")
    return 0
