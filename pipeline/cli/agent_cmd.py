"""``toka agent``: the host collector. The only bridge from the CLI to agents/ (imported
lazily, so the command never loads faust or statsmodels)."""

from __future__ import annotations

import argparse
import logging

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="run the host collector agent")
    p.add_argument("--once", action="store_true", help="collect and publish once, then exit")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)
    agent_sub = p.add_subparsers(dest="agent_command")
    s = agent_sub.add_parser(
        "publish-synthetic",
        help="publish a made-up MetricBatch (e.g. --cpu 95) to watch an alert fire",
    )
    s.add_argument("--cpu", type=float, default=None, help="system_cpu_percent value")
    s.add_argument("--memory", type=float, default=None, help="system_memory_percent value")
    s.add_argument("--host", default=None, help="host label (default: agent.host)")
    s.add_argument("--count", type=int, default=1, help="batches to send (default 1)")
    s.add_argument("--interval", type=float, default=1.0, help="seconds between batches")
    s.set_defaults(func=run_synthetic)


def _logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def run(args: argparse.Namespace) -> int:
    from agents.main import run_agent

    _logging(args)
    return run_agent(config_from_args(args), once=args.once, verbose=args.verbose)


def run_synthetic(args: argparse.Namespace) -> int:
    from agents.synthetic import publish_synthetic

    cfg = config_from_args(args)
    cpu = args.cpu if args.cpu is not None or args.memory is not None else 95.0
    ids = publish_synthetic(
        cfg, cpu=cpu, memory=args.memory, host=args.host, count=args.count, interval=args.interval
    )
    print(
        f"toka agent: published {len(ids)} synthetic batch(es) to {cfg.kafka.topic('metrics')} "
        f"(cpu={cpu}, memory={args.memory})",
        flush=True,
    )
    return 0
