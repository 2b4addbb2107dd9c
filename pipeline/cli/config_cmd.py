"""``toka config check FILE`` and ``toka config show``."""

from __future__ import annotations

import argparse
import json
import sys

from schemas.config import load_config
from schemas.config.switches import disabled
from schemas.errors import ConfigError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check or show the configuration")
    csub = p.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=check_file)
    show = csub.add_parser("show", help="print the effective configuration (secrets masked)")
    show.set_defaults(func=show_config)


def check_file(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.errors)} error(s)", file=sys.stderr)
        for path, msg in exc.errors:
            print(f"  {path}: {msg}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK")
    for switch in disabled(cfg):
        print(f"  off: {switch.key}: {switch.turns_off}")
    return 0


def show_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    return 0
