"""``toka bench``: run named benchmarks, publish BenchmarkResult records, compare with the
baseline file; exits 1 when a benchmark regressed (or failed every call), for CI."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pipeline.cli.common import config_from_args

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run benchmarks; compare with the baseline; publish results")
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--repeats", type=int, default=None, help="measured repeats (default 5)")
    p.add_argument("--warmup", type=int, default=None, help="unmeasured repeats first")
    p.add_argument("--command", action="append", default=[], metavar="NAME=CMD",
                   help="add a shell-command benchmark (repeatable)")  # fmt: skip
    p.add_argument("--callable", action="append", default=[], metavar="NAME=MOD:FUNC",
                   help="add a Python-callable benchmark (repeatable)")  # fmt: skip
    p.add_argument("--iterations", type=int, default=1, help="calls per repeat for added ones")
    p.add_argument("--compare", action="store_true", help="print current against baseline")
    p.add_argument("--baseline-file", type=Path, default=None, help="default from config")
    p.add_argument("--no-update-baseline", action="store_true",
                   help="judge against the baseline without adding this run to it")  # fmt: skip
    p.add_argument("--no-publish", action="store_true", help="do not send to Kafka")
    p.add_argument("--version", dest="bench_version", default=None,
                   help="version label of this run (default: git commit)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the results as JSON lines")
    p.set_defaults(func=run)


def _added(args: argparse.Namespace) -> list:
    from pipeline.benchmarks.registry import BenchmarkError, from_callable, from_command

    out = []
    for spec, make in ((args.command, from_command), (args.callable, from_callable)):
        for item in spec:
            name, sep, target = item.partition("=")
            if not sep or not name or not target:
                raise BenchmarkError(f"expected NAME=TARGET, got {item!r}")
            out.append(make(name, target, args.iterations))
    return out


def run(args: argparse.Namespace) -> int:
    from pipeline.benchmarks.baselines import BaselineFile
    from pipeline.benchmarks.progress import ProgressBar
    from pipeline.benchmarks.registry import BUILTINS, resolve
    from pipeline.benchmarks.runner import environment, run_benchmark
    from schemas import encode

    cfg = config_from_args(args)
    if not cfg.performance.benchmarking_enabled:
        print("toka bench: benchmarking is off (performance.benchmarking_enabled: false)",
              file=sys.stderr)  # fmt: skip
        return 2
    bc = cfg.analytics.bench
    added = _added(args)
    added_names = {b.name for b in added}
    benches = [b for b in resolve([], list(bc.benchmarks)) if b.name not in added_names] + added
    if args.names:
        wanted = set(args.names)
        unknown = wanted - {b.name for b in benches}
        if unknown:
            print(f"toka bench: unknown benchmark(s): {sorted(unknown)}", file=sys.stderr)
            return 2
        benches = [b for b in benches if b.name in wanted]
    if args.list:
        for b in benches:
            tag = "built-in" if b.name in BUILTINS else b.kind
            print(f"{b.name:28} {tag:9} {b.metric:17} {b.description}")
        return 0

    env = environment()
    version = args.bench_version or env.get("git_commit", "dev")
    repeats = args.repeats or bc.repeats
    warmup = bc.warmup if args.warmup is None else args.warmup
    baselines = BaselineFile(args.baseline_file or bc.baseline_file)
    verdicts = []
    for b in benches:
        res = run_benchmark(
            b, repeats=repeats, warmup=warmup, version=version, env=env,
            progress=ProgressBar(b.name),
        )  # fmt: skip
        verdicts.append(baselines.judge(res, bc))
        if args.json:
            print(encode(res).decode())
        else:
            print(
                f"{b.name:28} {res.metric}={_fmt(_median(res.samples))} "
                f"p50={res.latency_ms.p50:.4g}ms p99={res.latency_ms.p99:.4g}ms "
                f"errors={res.error_rate:.0%}"
            )
    if not args.no_update_baseline:
        baselines.save()
    if args.compare:
        _print_compare(verdicts)
    if not args.no_publish:
        _publish(cfg, [v.result for v in verdicts])
    failed = [v.result.benchmark for v in verdicts if v.result.error_rate >= 1.0]
    regressed = [v.result.benchmark for v in verdicts if v.regressed]
    for name in failed:
        print(f"toka bench: {name}: every call failed", file=sys.stderr)
    if regressed:
        print(f"toka bench: regression in {', '.join(regressed)}", file=sys.stderr)
    return 1 if failed or regressed else 0


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else float("nan")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _print_compare(verdicts: list) -> None:
    head = f"{'benchmark':28} {'metric':17} {'baseline':>10} {'current':>10} {'change':>8} "
    print("\n" + head + f"{'p-value':>8}  verdict")
    for v in verdicts:
        r = v.result
        cur = _median(r.samples)
        if not v.baseline_samples:
            print(f"{r.benchmark:28} {r.metric:17} {'-':>10} {_fmt(cur):>10} {'-':>8} "
                  f"{'-':>8}  new baseline")  # fmt: skip
            continue
        base = _median(v.baseline_samples)
        f = v.finding
        change = (cur - base) / base * 100 if base else float("nan")
        verdict = "ok" if f is None else f.direction
        p = f"{f.comparison.p_value:.3g}" if f else "-"
        print(f"{r.benchmark:28} {r.metric:17} {_fmt(base):>10} {_fmt(cur):>10} "
              f"{change:>+7.1f}% {p:>8}  {verdict}")  # fmt: skip


def _publish(cfg, results: list) -> None:
    from schemas import encode

    async def send() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all")
        await producer.start()
        try:
            topic = cfg.kafka.topic("benchmarks")
            for r in results:
                await producer.send_and_wait(topic, encode(r), key=r.benchmark.encode())
        finally:
            await producer.stop()

    try:
        asyncio.run(asyncio.wait_for(send(), timeout=15))
    except Exception as exc:  # results still printed and judged; say why they were not sent
        detail = json.dumps(str(exc) or type(exc).__name__)
        print(f"toka bench: not published to {cfg.kafka.bootstrap_servers}: {detail} "
              f"(--no-publish skips)", file=sys.stderr)  # fmt: skip
