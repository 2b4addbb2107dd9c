"""``toka alerts tail``: print alert state changes (``toka topics tail alerts``)."""

from __future__ import annotations

import argparse

from pipeline.cli.topics_cmd import add_tail_options, run_tail

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="read the alerts topic")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    tail = asub.add_parser("tail", help="print alerts as they fire and resolve")
    add_tail_options(tail)
    tail.set_defaults(func=run_tail, kind="alerts")
