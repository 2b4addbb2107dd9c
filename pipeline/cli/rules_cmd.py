"""``toka rules check FILE`` and ``toka rules test FILE...``."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.common import config_from_args
from schemas.errors import ConfigError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="check alert rule files and run their unit tests")
    rsub = p.add_subparsers(dest="rules_command", required=True)
    check = rsub.add_parser("check", help="validate a rule file (exit 1 on errors)")
    check.add_argument("file", nargs="?", help="rule file; default: the configured rules")
    check.set_defaults(func=check_file)
    test = rsub.add_parser("test", help="run rule unit tests (promtool-style)")
    test.add_argument("files", nargs="+", metavar="FILE")
    test.set_defaults(func=test_files)


def check_file(args: argparse.Namespace) -> int:
    from pipeline.alerts import load_rules

    cfg = config_from_args(args)
    path = args.file or cfg.pipeline.rules_file
    try:
        rs = load_rules(path, cfg.monitoring.thresholds)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.errors)} error(s)", file=sys.stderr)
        for where, msg in exc.errors:
            print(f"  {where}: {msg}", file=sys.stderr)
        return 1
    print(f"{rs.source}: OK, {len(rs)} rule(s): {', '.join(r.name for r in rs.rules)}")
    return 0


def test_files(args: argparse.Namespace) -> int:
    from pipeline.alerts.ruletest import run_test_file

    cfg = config_from_args(args)
    failed = 0
    for path in args.files:
        try:
            results = run_test_file(path, cfg.monitoring.thresholds)
        except ConfigError as exc:
            print(f"{exc.source}: {len(exc.errors)} error(s)", file=sys.stderr)
            for where, msg in exc.errors:
                print(f"  {where}: {msg}", file=sys.stderr)
            failed += 1
            continue
        for r in results:
            print(f"  {'PASS' if r.ok else 'FAIL'}  {r.name}")
            for f in r.failures:
                print(f"        {f}")
        bad = sum(not r.ok for r in results)
        failed += bad
        print(f"{path}: {len(results) - bad} passed, {bad} failed")
    return 1 if failed else 0
