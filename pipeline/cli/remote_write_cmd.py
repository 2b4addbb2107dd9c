"""``toka remote-write``: send aggregates and findings to Prometheus by remote write."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "remote-write", help="send aggregates and findings to Prometheus (remote write)"
    )
    p.add_argument("--url", default=None, help="write endpoint (default: remote_write.url)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from prometheus_client import start_http_server

    from pipeline.sinks.remote_write.exporter import RemoteWriteExporter

    cfg = config_from_args(args)
    rw = cfg.remote_write
    if args.url:
        rw = rw.model_copy(update={"url": args.url, "enabled": True})
        cfg = cfg.model_copy(update={"remote_write": rw})
    if not rw.enabled or rw.url is None:
        print("toka remote-write: off (set remote_write.enabled and remote_write.url)",
              file=sys.stderr)  # fmt: skip
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    exporter = RemoteWriteExporter(cfg)
    if rw.web_port:
        start_http_server(rw.web_port, rw.web_bind, registry=exporter.metrics.registry)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"toka remote-write: {', '.join(exporter.topics)} -> {rw.url}", flush=True)
        await exporter.run(stop)

    asyncio.run(main())
    print("toka remote-write: stopped", flush=True)
    return 0
