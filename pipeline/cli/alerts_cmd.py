"""``toka alerts tail``: print alert state changes from the alerts topic."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="read the alerts topic")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    tail = asub.add_parser("tail", help="print alerts as they fire and resolve")
    tail.add_argument("--json", action="store_true", help="print the raw records")
    tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest alert kept"
    )
    tail.add_argument("--max", type=int, default=None, help="exit after this many alerts")
    tail.set_defaults(func=run_tail)


def run_tail(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(cfg, args))
    return 0


async def _tail(cfg, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaConsumer

    from pipeline.console import format_alert
    from schemas import Alert, decode
    from schemas.errors import DecodeError

    consumer = AIOKafkaConsumer(
        cfg.kafka.topic("alerts"),
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
                    print(format_alert(decode(msg.value, Alert)), flush=True)
                except DecodeError as exc:
                    print(
                        f"(undecodable alert record at offset {msg.offset}: {exc})", file=sys.stderr
                    )
            seen += 1
            if args.max is not None and seen >= args.max:
                return
    finally:
        await consumer.stop()
