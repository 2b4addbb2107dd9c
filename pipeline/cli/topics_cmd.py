"""``toka topics tail KIND``: follow any of the pipeline's topics without another tool."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from pipeline.cli.common import config_from_args
from pipeline.topics import INTERNAL_TOPIC_KINDS, TOPIC_KINDS

__all__ = ["add_tail_options", "register", "run_tail"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("topics", help="read the pipeline's topics")
    tsub = p.add_subparsers(dest="topics_command", required=True)
    tail = tsub.add_parser("tail", help="print a topic's records as they arrive")
    tail.add_argument("kind", choices=TOPIC_KINDS + INTERNAL_TOPIC_KINDS, help="topic kind")
    add_tail_options(tail)
    tail.set_defaults(func=run_tail)


def add_tail_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw records")
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest record kept"
    )
    parser.add_argument("--max", type=int, default=None, help="exit after this many records")


def run_tail(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(cfg, args))
    return 0


async def _tail(cfg, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaConsumer

    from pipeline.record_lines import record_lines
    from schemas.errors import DecodeError

    consumer = AIOKafkaConsumer(
        cfg.kafka.topic(args.kind),
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False,
        **cfg.kafka.client_options(),
    )
    await consumer.start()
    seen = 0
    try:
        async for msg in consumer:
            if args.json:
                print(msg.value.decode(errors="replace"), flush=True)
            else:
                try:
                    print("\n".join(record_lines(msg.value)), flush=True)
                except DecodeError as exc:
                    where = f"partition {msg.partition} offset {msg.offset}"
                    print(f"(undecodable record at {where}: {exc})", file=sys.stderr)
            seen += 1
            if args.max is not None and seen >= args.max:
                return
    finally:
        await consumer.stop()
