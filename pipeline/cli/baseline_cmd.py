"""``toka baseline list|pin|unpin|reset``: the regression stage's baselines.

``list`` reads the stage's state table from its changelog topic (no worker needed);
``pin``/``unpin``/``reset`` send a BaselineCommand that the stage applies. ``--local``
works on the ``toka bench`` baseline file instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="list, pin or reset regression baselines")
    bsub = p.add_subparsers(dest="baseline_command", required=True)
    ls = bsub.add_parser("list", help="list baselines")
    ls.add_argument("--local", action="store_true", help="the toka bench baseline file")
    ls.add_argument("--baseline-file", type=Path, default=None)
    ls.add_argument("--timeout", type=float, default=10.0, help="seconds to read the changelog")
    ls.set_defaults(func=list_baselines)
    for action, text in (
        ("pin", "freeze a baseline until unpinned or reset"),
        ("unpin", "let a baseline roll again"),
        ("reset", "forget a baseline; the next windows or runs establish a new one"),
    ):
        a = bsub.add_parser(action, help=text)
        a.add_argument("subject", help="series id (as in Regression.subject) or benchmark")
        a.add_argument("--local", action="store_true", help="the toka bench baseline file")
        a.add_argument("--baseline-file", type=Path, default=None)
        a.set_defaults(func=change_baseline, action=action)


def list_baselines(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.local:
        from pipeline.benchmarks.baselines import BaselineFile

        bf = BaselineFile(args.baseline_file or cfg.analytics.bench.baseline_file)
        rows = [_row("benchmark", k, v.snapshot()) for k, v in bf.entries.items()]
    else:
        rows = asyncio.run(_read_table(cfg, args.timeout))
    print(f"{'kind':9} {'subject':60} {'version':12} {'n':>4} {'median':>12} {'state':8}")
    for r in sorted(rows, key=lambda r: (r["kind"], r["subject"])):
        print(f"{r['kind']:9} {r['subject']:60} {r['version']:12} {r['n']:>4} "
              f"{r['median']:>12.6g} {r['state']:8}")  # fmt: skip
    return 0


def _row(kind: str, subject: str, state: dict[str, Any]) -> dict[str, Any]:
    if kind == "series":
        base = state["baseline"]
        values = base["values"]
        status = "pinned" if base["pinned"] else "rolling"
        if base["established_ts"] is None:
            status = "learning"
        if state.get("open"):
            status += f"/{state['open']}"
        version = base["version"]
    else:
        values = state["samples"]
        status = "pinned" if state["pinned"] else "rolling"
        version = state["version"]
    return {
        "kind": kind, "subject": subject, "version": version or "-", "n": len(values),
        "median": statistics.median(values) if values else float("nan"), "state": status,
    }  # fmt: skip


async def _read_table(cfg: Any, timeout: float) -> list[dict[str, Any]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from pipeline.regressions.stage import STATE_TABLE
    from pipeline.runtime.state import unwrap

    topic = f"{cfg.pipeline.app_id}-{STATE_TABLE}-changelog"
    consumer = AIOKafkaConsumer(
        **cfg.kafka.client_options(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    latest: dict[bytes, bytes | None] = {}
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                for m in msgs:
                    latest[m.key] = m.value
    finally:
        await consumer.stop()
    rows = []
    for key, value in latest.items():
        if value is None:
            continue
        text = key.decode()
        if text.startswith('"'):  # Faust may write table keys JSON-encoded
            text = json.loads(text)
        _, kind, subject = text.split("|", 2)
        state = unwrap(json.loads(value))
        rows.append(_row("series" if kind == "s" else "benchmark", subject, state))
    return rows


def change_baseline(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.local:
        from pipeline.benchmarks.baselines import BaselineFile

        bf = BaselineFile(args.baseline_file or cfg.analytics.bench.baseline_file)
        ok = bf.reset(args.subject) if args.action == "reset" else bf.pin(
            args.subject, args.action == "pin"
        )  # fmt: skip
        if not ok:
            print(f"toka baseline: no baseline for {args.subject!r}", file=sys.stderr)
            return 1
        bf.save()
        print(f"{args.subject}: {args.action} (local)")
        return 0
    asyncio.run(_send(cfg, args.subject, args.action))
    print(f"{args.subject}: {args.action} sent to the regression stage")
    return 0


async def _send(cfg: Any, subject: str, action: str) -> None:
    import time

    from aiokafka import AIOKafkaProducer

    from pipeline.regressions.stage import command_topic
    from schemas import encode, new_id
    from schemas.analytics import BaselineCommand

    cmd = BaselineCommand(id=new_id(), ts=time.time(), action=action, subject=subject)  # type: ignore[arg-type]
    producer = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all")
    await producer.start()
    try:
        # keyed like the subject's own records, so it reaches the partition holding it
        await producer.send_and_wait(command_topic(cfg), encode(cmd), key=subject.encode())
    finally:
        await producer.stop()
