"""Pipeline throughput: one worker on the embedded broker, records of 100 samples.

    .venv/bin/python bench/pipeline/run.py [--records 20000] [--hosts 50]
        [--interval 0.1 --interval 1 --interval 10] [--workers full,windows,noop]

Per scenario (scrape interval in event time; with the default 10 s and 1 min windows, 0.1 s
makes 100 samples per 10 s aggregate, 1 s makes 10, and 10 s, the agent's default, makes
one), over the same records on one embedded Tansu broker:
  raw     aiokafka consume + orjson decode, no processing (the raw limit; median of 3 runs)
  worker  a real Faust worker: every stage of ``toka worker`` ("full"), the windows stage
          alone, or a no-op Faust agent that only decodes (Faust's own ceiling); timed from
          its first record until it has taken the last one and its analytics streams have
          taken every aggregate batch sent by then
  core    schemas.decode + WindowStore fold/close in-process, no Kafka (the stage's CPU cost)
Prints a table and writes bench/results/pipeline.json.
Targets (issue 4), for ``toka worker`` ("full"): >= 250,000 samples/s and >= 50% of raw.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script (make bench) or with -m
    sys.path.insert(0, str(ROOT))

from bench.pipeline.data import make_records  # noqa: E402
from bench.pipeline.measure import (  # noqa: E402
    measure_core,
    measure_raw,
    measure_sketch,
    measure_worker,
    produce,
)
from pipeline.broker import EmbeddedBroker, free_port  # noqa: E402
from pipeline.topics import ensure_topics  # noqa: E402
from schemas.config import TokaConfig  # noqa: E402
from schemas.records import new_id  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline.json"
STAGES = {
    "full": None,
    "windows": ["pipeline.windows.stage"],
    "noop": ["bench.pipeline.noop_stage"],
}
VARIANT_NAMES = {
    "full": "every toka worker stage",
    "windows": "windows stage only",
    "noop": "no-op agent (orjson decode, ack)",
}
TARGET_SAMPLES = 250_000
TARGET_RATIO = 0.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=100, help="samples per record")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument(
        "--interval",
        type=float,
        action="append",
        help="scrape interval(s) in event time, one scenario each (default 0.1, 1 and 10)",
    )
    ap.add_argument("--window", type=float, action="append",
                    help="window size(s), s (default: the pipeline's, 10 and 60)")  # fmt: skip
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", default="full,windows,noop",
                    help="worker variants: full (every toka worker stage), windows (windows "
                         "stage only), noop (Faust agent that only decodes), none")  # fmt: skip
    ap.add_argument(
        "--faust",
        default="",
        help="extra Faust settings for the workers, JSON, "
        "e.g. '{\"consumer_max_fetch_size\": 16777216}'",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    # Raw and core measurements in this process run with the worker's GC thresholds
    # (pipeline.cli.worker_cmd.make_worker), as the workers it starts do.
    gc.set_threshold(50_000, 50, 100)
    if args.faust:
        os.environ["TOKA_BENCH_FAUST"] = args.faust  # read by worker_main.py
    sizes = args.window or TokaConfig().pipeline.window_seconds
    variants = [v for v in args.workers.split(",") if v and v != "none"]
    scenarios = []
    tmp = Path(tempfile.mkdtemp(prefix="toka-bench-"))
    with EmbeddedBroker(port=free_port(), log_file=tmp / "tansu.log") as broker:
        for k, interval in enumerate(args.interval or [0.1, 1.0, 10.0]):
            scenarios.append(
                _scenario(broker, args, sizes, interval, variants=variants, tmp=tmp / f"s{k}")
            )
    result = {
        "benchmark": "pipeline_throughput",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_at_end": os.getloadavg()},  # fmt: skip
        "params": {"records": args.records, "samples_per_record": args.samples,
                   "hosts": args.hosts, "windows_s": sizes, "partitions": args.partitions,
                   "faust_settings": args.faust or None},
        "targets": {"samples_per_s": TARGET_SAMPLES, "ratio_of_raw": TARGET_RATIO},
        "scenarios": scenarios,
        "sketch": measure_sketch(),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _table(result)
    print(f"wrote {args.out}")
    return 0


def _scenario(
    broker: EmbeddedBroker, args: argparse.Namespace, sizes: list[float], interval: float,
    *, variants: list[str], tmp: Path,
) -> dict:  # fmt: skip
    tmp.mkdir(parents=True)
    records = make_records(args.hosts, args.records, args.samples, interval, time.time())
    samples = args.records * args.samples
    prefix = f"bench{new_id()[:6]}."
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": args.partitions, "window_seconds": sizes},
    )  # fmt: skip
    asyncio.run(ensure_topics(cfg))
    topic = cfg.kafka.topic("metrics")
    asyncio.run(produce(broker.bootstrap, topic, records))
    runs = [asyncio.run(measure_raw(broker.bootstrap, topic, len(records))) for _ in range(3)]
    assert all(r["samples"] == samples for r in runs), (runs, samples)
    raw = sorted(runs, key=lambda r: r["seconds"])[1]  # the median: this machine is shared
    raw["samples_per_s"] = samples / raw["seconds"]
    raw["samples_per_cpu_s"] = samples / raw["cpu_seconds"]
    out: dict = {
        "interval_s": interval,
        "samples_per_aggregate": max(min(sizes) / interval, 1.0),
        "raw": raw,
        "core": measure_core(records, sizes),
        "workers": {},
    }
    for variant in sorted(variants, key=lambda v: v != "noop"):  # the no-op ceiling first
        vcfg = cfg.model_copy(
            update={
                "pipeline": cfg.pipeline.model_copy(
                    update={
                        "app_id": f"toka-bench-{variant}-{new_id()[:6]}",
                        "web_port": free_port(),
                    }
                )
            }
        )
        stages = STAGES[variant]
        w = measure_worker(vcfg, len(records), tmp / f"{variant}.log", stages)
        n = w["records"] * args.samples
        w.update(stages=stages or "all", samples_per_s=n / w["seconds"],
                 samples_per_cpu_s=n / w["cpu_seconds"])  # fmt: skip
        w["ratio_of_raw"] = w["samples_per_s"] / raw["samples_per_s"]
        w["cpu_ratio_of_raw"] = w["samples_per_cpu_s"] / raw["samples_per_cpu_s"]
        w["pass"] = w["samples_per_s"] >= TARGET_SAMPLES and w["ratio_of_raw"] >= TARGET_RATIO
        w["pass_samples"] = w["samples_per_s"] >= TARGET_SAMPLES
        w["pass_ratio"] = w["ratio_of_raw"] >= TARGET_RATIO
        noop = out["workers"].get("noop")
        if noop and variant != "noop":
            w["ratio_of_noop"] = w["samples_per_s"] / noop["samples_per_s"]
        out["workers"][variant] = w
        print(
            f"  scrape {interval} s: {variant} worker {w['samples_per_s']:,.0f} samples/s, "
            f"{w['samples_per_cpu_s']:,.0f} per CPU second, analytics lag "
            f"{w['analytics_lag_s']:.1f} s",
            flush=True,
        )
    return out


def _table(r: dict) -> None:
    p = r["params"]
    print(f"\npipeline throughput: {p['records']} records x {p['samples_per_record']} samples, "
          f"{p['hosts']} hosts, windows {p['windows_s']} s, {p['partitions']} partitions; "
          f"load average at end {r['machine']['load_avg_at_end'][0]:.1f} "
          f"on {r['machine']['cpus']} CPUs")  # fmt: skip
    print(f"{'scenario':22} {'path':40} {'samples/s':>10} {'of raw':>6} {'of no-op':>8} "
          f"{'per CPU s':>10} {'of raw':>6}")  # fmt: skip
    for sc in r["scenarios"]:
        name = f"scrape {sc['interval_s']} s ({sc['samples_per_aggregate']:.0f}/agg)"
        raw = sc["raw"]
        rows = [("raw: aiokafka consume + orjson decode", raw["samples_per_s"], 1.0, None,
                 raw["samples_per_cpu_s"], 1.0)]  # fmt: skip
        for variant, w in sc["workers"].items():
            rows.append(
                (
                    f"Faust worker, {VARIANT_NAMES[variant]}",
                    w["samples_per_s"],
                    w["ratio_of_raw"],
                    w.get("ratio_of_noop"),
                    w["samples_per_cpu_s"],
                    w["cpu_ratio_of_raw"],
                )
            )
        c = sc["core"]
        rows += [
            ("core: schemas.decode + WindowStore", None, None, None, c["both_per_s"], None),
            ("core: WindowStore fold + close only", None, None, None, c["fold_per_s"], None),
            ("core: schemas.decode only", None, None, None, c["decode_per_s"], None),
            ("  (msgspec typed decoder, same bytes)", None, None, None,
             c["msgspec_typed_decode_per_s"], None),
        ]  # fmt: skip
        for i, (path, rate, ratio, of_noop, cpu_rate, cpu_ratio) in enumerate(rows):
            print(f"{name if i == 0 else '':22} {path:40} {_n(rate):>10} {_pct(ratio):>6} "
                  f"{_pct(of_noop):>8} {_n(cpu_rate):>10} {_pct(cpu_ratio):>6}")  # fmt: skip
    sk = r["sketch"]
    print(f"quantile sketch, CPU ns per value ({sk['values']:,} lognormal values, alpha 1%): "
          f"ddsketch package {sk['ddsketch_package_ns']:.0f}, ours {sk['ours_python_ns']:.0f} "
          f"(Python loop) / {sk['ours_numpy_bulk_ns']:.0f} (numpy bulk, as windows use it); "
          f"p99 error {sk['ddsketch_package_p99_rel_error']:.2%} vs "
          f"{sk['ours_p99_rel_error']:.2%}")  # fmt: skip
    print(f"targets (issue 4): worker >= {TARGET_SAMPLES:,} samples/s; >= {TARGET_RATIO:.0%} "
          "of raw; and, for comparison, the share of the Faust no-op ceiling")  # fmt: skip
    for sc in r["scenarios"]:
        for variant, w in sc["workers"].items():
            if variant == "noop":
                continue
            noop = f"{w['ratio_of_noop']:.0%}" if "ratio_of_noop" in w else "n/a"
            print(f"  scrape {sc['interval_s']} s, {variant}: samples/s "
                  f"{_verdict(w['pass_samples'])}, of raw {_verdict(w['pass_ratio'])}, "
                  f"of no-op {noop}")  # fmt: skip


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _n(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


if __name__ == "__main__":
    sys.exit(main())
