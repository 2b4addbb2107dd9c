"""Entry point of ``toka``. Subcommand modules import their heavy dependencies lazily,
so ``toka agent`` never loads faust or statsmodels."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator

from schemas.errors import TokaError

__all__ = ["build_parser", "main"]

#: One module per command group under pipeline/cli/. Each defines ``register(subparsers)``
#: and sets ``func`` (args -> exit code) on its parsers.
COMMAND_MODULES = [
    "broker_cmd",
    "config_cmd",
    "rules_cmd",
    "worker_cmd",
    "alerts_cmd",
    "topics_cmd",
    "up_cmd",
    "agent_cmd",
    "bench_cmd",
    "baseline_cmd",
    "dashboard_cmd",
    "profile_cmd",
    "remote_write_cmd",
]


_CONFIG_HELP = "configuration file (YAML); default: $TOKA_CONFIG, else built-in defaults"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toka", description="Toka Performance pipeline")
    parser.add_argument("-c", "--config", default=None, help=_CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"pipeline.cli.{name}").register(sub)
    # `-c` is also taken after any subcommand (`toka worker -c F`). SUPPRESS: a subcommand
    # that was not given -c leaves the top-level value alone instead of resetting it to None
    # (the form the Dockerfile's ENTRYPOINT uses: `toka -c F worker`).
    for command in _subcommands(parser):
        command.add_argument("-c", "--config", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield command
                yield from _subcommands(command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.config is None:
        args.config = os.environ.get("TOKA_CONFIG") or None
    try:
        return int(args.func(args) or 0)
    except TokaError as exc:
        print(f"toka: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
