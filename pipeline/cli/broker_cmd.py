"""``toka broker``: run the embedded broker until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    p.add_argument("--host", default=None, help="listen address (default from config)")
    p.add_argument("--port", type=int, default=None, help="listen port (default 9092)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.broker import EmbeddedBroker

    cfg = config_from_args(args)
    host = args.host or cfg.broker.host
    port = args.port or cfg.broker.port
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(host, port) as broker:
        print(f"toka broker: ready on {broker.bootstrap} (in-memory; Ctrl-C stops)", flush=True)
        stop.wait()
    print("toka broker: stopped", flush=True)
    return 0
