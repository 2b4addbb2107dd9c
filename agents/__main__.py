"""``python -m agents [-c FILE] [--once]``: the agent without the ``toka`` CLI around it."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from agents.main import run_agent
from schemas.config import load_config
from schemas.errors import TokaError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents")
    p.add_argument("-c", "--config", default=None)
    p.add_argument("--once", action="store_true", help="collect and publish once, then exit")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, aiokafka's too")
    args = p.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        path = args.config or os.environ.get("TOKA_CONFIG") or None
        return run_agent(load_config(path), once=args.once, verbose=args.verbose)
    except TokaError as exc:
        print(f"toka agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
