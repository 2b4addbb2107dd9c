"""Entry point of ``toka``. Subcommand modules import their heavy dependencies lazily,
so ``toka agent`` never loads faust or statsmodels."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    "up_cmd",
    "agent_cmd",
    "bench_cmd",
    "baseline_cmd",
    "dashboard_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toka", description="Toka Performance pipeline")
    parser.add_argument(
        "-c", "--config", default=None,
        help="configuration file (YAML); default: built-in defaults + TOKA_... variables",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"pipeline.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TokaError as exc:
        print(f"toka: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
