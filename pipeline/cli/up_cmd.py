"""``toka up``: the embedded default: broker + worker + agent + dashboard, printing windows and
alerts and the dashboard's URL."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up", help="run broker, worker, agent and dashboard together on this machine"
    )
    p.add_argument("--log-dir", default=".toka/logs", help="where the broker log goes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.up import run_up

    return run_up(config_from_args(args), args.config, Path(args.log_dir))
