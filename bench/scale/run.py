"""Scale-out: samples/s with 1 and 2 worker processes of one consumer group, each pinned to
a core of its own, on the real-shape scenario of bench/pipeline (each record one host's
scrape of 1,000 series, 10 s collection, windows 10 s and 1 min).

    .venv/bin/python bench/scale/run.py [--records 1000] [--samples 1000] [--hosts 50]
        [--workers 1 --workers 2] [--partitions 4]

Per group size: `toka worker` processes (taskset -c K) join one group on an empty topic and
wait until every one is ready; then the records are produced, and the run is timed from the
first record the group took to the last, by polling each worker's /metrics
(toka_worker_records_consumed_total of the metrics topic). Efficiency is the 2-worker rate
over twice the 1-worker rate. Prints a table and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline.data import make_records  # noqa: E402
from bench.pipeline.measure import produce  # noqa: E402
from pipeline.broker import EmbeddedBroker, free_port  # noqa: E402
from pipeline.topics import ensure_topics  # noqa: E402
from schemas.config import TokaConfig  # noqa: E402
from schemas.records import new_id  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=1000, help="samples per record")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, action="append", help="group sizes (default 1, 2)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    sizes = args.workers or [1, 2]
    tmp = Path(tempfile.mkdtemp(prefix="toka-scale-"))
    runs = []
    with EmbeddedBroker(port=free_port(), log_file=tmp / "tansu.log") as broker:
        for size in sizes:
            runs.append(_run(broker, args, size, tmp / f"w{size}"))
            print(f"  {size} worker(s): {runs[-1]['samples_per_s']:,.0f} samples/s", flush=True)
    one = next((r for r in runs if r["workers"] == 1), None)
    for r in runs:
        if one and r["workers"] > 1:
            r["efficiency"] = r["samples_per_s"] / (r["workers"] * one["samples_per_s"])
    result = {
        "benchmark": "scale_out",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },  # fmt: skip
        "params": vars(args) | {"out": str(args.out)},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _table(result)
    print(f"wrote {args.out}")
    return 0


def _run(broker: EmbeddedBroker, args: argparse.Namespace, size: int, tmp: Path) -> dict:
    tmp.mkdir(parents=True)
    prefix = f"scale{new_id()[:6]}."
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix},
        pipeline={"partitions": args.partitions},
    )
    asyncio.run(ensure_topics(cfg))
    records = make_records(args.hosts, args.records, args.samples, args.interval, time.time())
    ports = [free_port() for _ in range(size)]
    procs = [_start_worker(cfg, prefix, port, core=k % (os.cpu_count() or 1), log=tmp / f"{k}.log")
             for k, port in enumerate(ports)]  # fmt: skip
    try:
        for port in ports:
            _wait(lambda p=port: _get(f"http://127.0.0.1:{p}/readyz")[0] == 200, 180, "ready")
        time.sleep(3.0)  # the last join's rebalance settles
        topic = cfg.kafka.topic("metrics")
        asyncio.run(produce(broker.bootstrap, topic, records))
        points = _poll(ports, topic, len(records), timeout=1800)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    (t0, _), (t1, n1) = points[0], points[-1]
    samples = n1 * args.samples
    return {"workers": size, "records": n1, "seconds": t1 - t0,
            "samples_per_s": samples / (t1 - t0)}  # fmt: skip


def _start_worker(cfg: TokaConfig, prefix: str, port: int, core: int, log: Path):  # noqa: ANN202
    env = {
        **os.environ,
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
        "TOKA_KAFKA__TOPIC_PREFIX": prefix,
        "TOKA_PIPELINE__APP_ID": f"toka-{prefix}",
        "TOKA_PIPELINE__PARTITIONS": str(cfg.pipeline.partitions),
        "TOKA_PIPELINE__WEB_PORT": str(port),
        "TOKA_PIPELINE__DATA_DIR": str(log.with_suffix(".data")),
    }
    pin = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
    cmd = [*pin, sys.executable, "-m", "pipeline.cli.main", "worker"]
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _consumed(port: int, topic: str) -> int:
    status, body = _get(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        return 0
    for line in body.decode().splitlines():
        if line.startswith("toka_worker_records_consumed_total{") and f'topic="{topic}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def _poll(ports: list[int], topic: str, expect: int, timeout: float) -> list[tuple[float, int]]:
    """(time, records the group took) from its first record to its last."""
    points: list[tuple[float, int]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        taken = sum(_consumed(port, topic) for port in ports)
        now = time.time()
        if taken and not points:
            points.append((now, taken))
        if points:
            points.append((now, taken))
        if taken >= expect:
            return points
        time.sleep(0.2)
    raise TimeoutError(f"the group took {points[-1][1] if points else 0} of {expect} records")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read()
    except OSError:
        return 0, b""


def _wait(check, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _table(result: dict) -> None:
    p = result["params"]
    machine = result["machine"]
    print(f"\nscale-out: {p['records']} records x {p['samples']} samples, {p['hosts']} hosts, "
          f"{p['partitions']} partitions; load average at end "
          f"{machine['load_avg_at_end'][0]:.1f} on {machine['cpus']} CPUs")  # fmt: skip
    print(f"{'workers':>7} {'seconds':>8} {'samples/s':>12} {'efficiency':>10}")
    for r in result["runs"]:
        eff = f"{r['efficiency']:.0%}" if "efficiency" in r else ""
        print(f"{r['workers']:>7} {r['seconds']:>8.1f} {r['samples_per_s']:>12,.0f} {eff:>10}")
    print("efficiency: the 2-worker rate over twice the 1-worker rate (each worker pinned to a "
          "core; the broker and this process share those cores)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
