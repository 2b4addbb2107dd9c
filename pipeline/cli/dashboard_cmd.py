"""``toka dashboard``: the web UI and JSON API over a history of the output topics."""

from __future__ import annotations

import argparse
import logging

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the web UI and JSON API (history in DuckDB)")
    p.add_argument("--port", type=int, default=None, help="override dashboard.port")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.dashboard.server import run_dashboard

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")  # fmt: skip
    cfg = config_from_args(args)
    if args.port is not None:
        cfg = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(
            update={"port": args.port})})  # fmt: skip
    return run_dashboard(cfg)
