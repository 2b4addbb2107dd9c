"""Dashboard: history ingest against the worker's output, API latency, overview first load.

    .venv/bin/python bench/dashboard/run.py [--records 3000] [--hosts 200] [--requests 200]

In one run:
  ingest    the real-shape scenario of bench/pipeline (records of 100 samples from 50 hosts,
            a 10 s scrape interval, 10 s and 1 min windows: one sample per 10 s window, the
            most aggregates per sample). (a) A real ``toka worker`` (every stage) on the
            embedded broker turns the scrapes into aggregates on toka.aggregates, then the
            history consumer reads them all: aggregates per second (and per CPU second, the
            figure that does not depend on what else this shared machine runs) of each.
            (b) In process, the windows core's output decoded and appended: the decode
            (schemas.aggregates.read_aggregates) and the store's shares of the cost.
  api       GET /api/v1/series for one host's series over 24 h, on a history of 200 hosts x
            30 series (24 h of 1-minute rollups, 1 h of 10 s windows): p50 and p95 over
            --requests calls.
  overview  Debian's chromium opens the overview of those 200 hosts: time from navigation
            until the hosts table holds every host, best and median of 5 cold loads.
Prints a table and writes bench/results/dashboard.json.
Targets (issue 14): ingest >= the worker's output rate; API p95 < 100 ms; overview < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dashboard.data import fill_day, worker_output  # noqa: E402
from bench.pipeline.data import make_records  # noqa: E402
from bench.pipeline.measure import measure_worker, produce  # noqa: E402
from pipeline.broker import EmbeddedBroker, free_port  # noqa: E402
from pipeline.dashboard.consumer import HistoryConsumer  # noqa: E402
from pipeline.dashboard.ingest import IngestBatch  # noqa: E402
from pipeline.dashboard.server import Dashboard, retention_of  # noqa: E402
from pipeline.dashboard.store import HistoryStore  # noqa: E402
from pipeline.topics import ensure_topics  # noqa: E402
from schemas.config import TokaConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "dashboard.json"
SIZES = [10.0, 60.0]


def _cfg(tmp: Path, **kafka: str) -> TokaConfig:
    return TokaConfig(
        kafka=kafka or {},
        pipeline={"window_seconds": SIZES},
        dashboard={"history_file": tmp / "history.duckdb", "port": 0, "replica": "bench",
                   "auth": {"audit_file": tmp / "audit.jsonl", "rate_limit_per_second": 0}},
    )  # fmt: skip


def bench_ingest(records: int, tmp: Path) -> dict[str, float]:
    aggs, core_cpu = worker_output(50, records, 100, 10.0, SIZES)
    cfg = _cfg(tmp / "inproc")
    store = HistoryStore(cfg.dashboard.history_file, retention_of(cfg), min(SIZES))
    decode_cpu = store_cpu = 0.0
    for start in range(0, len(aggs), 5000):
        t0 = time.process_time()
        batch = IngestBatch()
        for i, value in enumerate(aggs[start : start + 5000]):
            batch.add("aggregates", "toka.aggregates", 0, start + i, ts=0.0, value=value)
        t1 = time.process_time()
        store.append(batch)
        decode_cpu, store_cpu = decode_cpu + t1 - t0, store_cpu + time.process_time() - t1
    t1 = time.process_time()
    store.compact()
    store_cpu += time.process_time() - t1
    inproc_cpu = decode_cpu + store_cpu
    store.close()
    return {
        "aggregates": len(aggs),
        "worker_core_aggregates_per_cpu_s": len(aggs) / core_cpu,
        "history_aggregates_per_cpu_s": len(aggs) / inproc_cpu,
        "decode_share": decode_cpu / inproc_cpu,
        "store_aggregates_per_cpu_s": len(aggs) / store_cpu,
    }


def bench_behind_worker(records: int, tmp: Path) -> dict[str, float]:
    """A real ``toka worker`` (every stage) over real-shape scrapes on the embedded broker,
    then the history consumer over the aggregates it wrote: both rates, one run."""
    tmp.mkdir(parents=True)
    with EmbeddedBroker(port=free_port(), log_file=tmp / "tansu.log") as broker:
        cfg = _cfg(tmp, bootstrap_servers=broker.bootstrap, topic_prefix="bench.")
        cfg = cfg.model_copy(update={"pipeline": cfg.pipeline.model_copy(update={
            "app_id": "toka-bench-dashboard", "web_port": free_port()})})  # fmt: skip
        asyncio.run(ensure_topics(cfg))
        scrapes = make_records(50, records, 100, 10.0, time.time())
        asyncio.run(produce(broker.bootstrap, cfg.kafka.topic("metrics"), scrapes))
        worker = measure_worker(cfg, len(scrapes), tmp / "worker.log")
        history = asyncio.run(_consume_all(cfg))
    aggs = history["aggregates"]
    return {
        "scrapes": len(scrapes), "aggregates": aggs,
        "worker_wall_s": worker["seconds"], "worker_cpu_s": worker["cpu_seconds"],
        "worker_aggregates_per_s": aggs / worker["seconds"],
        "worker_aggregates_per_cpu_s": aggs / worker["cpu_seconds"],
        "history_aggregates_per_s": aggs / history["wall_s"],
        "history_aggregates_per_cpu_s": aggs / history["cpu_s"],
    }  # fmt: skip


async def _consume_all(cfg: TokaConfig, quiet: float = 5.0) -> dict[str, float]:
    """Consume until nothing new came for ``quiet`` seconds; the time is to the last row."""
    store = HistoryStore(cfg.dashboard.history_file, retention_of(cfg), min(SIZES))
    consumer = HistoryConsumer(cfg, store, max_records=20_000)
    task = asyncio.create_task(consumer.run())
    t0 = c0 = None
    seen, last = 0, (time.perf_counter(), time.process_time())
    while time.perf_counter() - last[0] < quiet or not seen:
        await asyncio.sleep(0.05)
        if task.done():
            task.result()
        if consumer.records != seen:
            if t0 is None:
                t0, c0 = time.perf_counter(), time.process_time()
            seen, last = consumer.records, (time.perf_counter(), time.process_time())
    consumer.stop()
    await task
    store.close()
    return {"aggregates": seen, "wall_s": last[0] - (t0 or 0), "cpu_s": last[1] - (c0 or 0)}


async def bench_reads(hosts: int, requests: int, tmp: Path) -> dict[str, float]:
    import aiohttp

    cfg = _cfg(tmp / "reads")
    dashboard = Dashboard(cfg, consume=False)
    t0 = time.perf_counter()
    rows = fill_day(dashboard.store, hosts, 30, min(SIZES))
    fill_s = time.perf_counter() - t0
    url = await dashboard.start()
    latencies = []
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(requests):
                params = {"name": "system_cpu_percent", "host": f"host-{i % hosts:03d}",
                          "range": "24h"}  # fmt: skip
                t = time.perf_counter()
                async with http.get(url + "api/v1/series", params=params) as r:
                    body = await r.json()
                latencies.append(time.perf_counter() - t)
                assert len(body["series"][0]["points"]) > 100, body
            t = time.perf_counter()
            async with http.get(url + "api/v1/overview") as r:
                overview = await r.json()
            overview_api = time.perf_counter() - t
            assert len(overview["hosts"]) == hosts
        loads = await _browser_loads(url, hosts)
    finally:
        await dashboard.stop()
    latencies.sort()
    return {
        "history_rows": rows, "fill_s": fill_s, "series_requests": requests,
        "series_p50_ms": 1000 * statistics.median(latencies),
        "series_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "overview_api_ms": 1000 * overview_api,
        "overview_load_best_s": min(loads) if loads else float("nan"),
        "overview_load_median_s": statistics.median(loads) if loads else float("nan"),
    }  # fmt: skip


async def _browser_loads(url: str, hosts: int, runs: int = 5) -> list[float]:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium not installed: overview load not measured", file=sys.stderr)
        return []
    from playwright.async_api import async_playwright

    out = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])  # fmt: skip
        for _ in range(runs):
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            page = await context.new_page()  # a new context: nothing cached
            t = time.perf_counter()
            await page.goto(url)
            await page.wait_for_function(
                f"document.querySelectorAll('#hosts tbody tr').length >= {hosts}",
                timeout=30_000)  # fmt: skip
            out.append(time.perf_counter() - t)
            await context.close()
        await browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=3000, help="scrapes of 100 samples")
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ingest = bench_ingest(args.records, Path(tmp))
        ingest["behind_worker"] = bench_behind_worker(args.records, Path(tmp) / "worker")
        reads = asyncio.run(bench_reads(args.hosts, args.requests, Path(tmp)))
    worker = ingest["worker_core_aggregates_per_cpu_s"]
    real = ingest["behind_worker"]
    rows = [
        ("worker core output (aggregates/CPU s)", f"{worker:,.0f}", ""),
        ("history ingest in process", f"{ingest['history_aggregates_per_cpu_s']:,.0f}",
         f"{ingest['history_aggregates_per_cpu_s'] / worker:.2f}x worker"),
        ("  of which read_aggregates (decode)", f"{ingest['decode_share']:.0%}", "of the CPU"),
        ("  the store alone (append + compaction)", f"{ingest['store_aggregates_per_cpu_s']:,.0f}",
         f"{ingest['store_aggregates_per_cpu_s'] / worker:.2f}x worker"),
        ("real toka worker: aggregates out per s", f"{real['worker_aggregates_per_s']:,.0f}",
         f"{real['worker_aggregates_per_cpu_s']:,.0f} per CPU s"),
        ("history consumer behind it: aggregates per s", f"{real['history_aggregates_per_s']:,.0f}",
         f"{real['history_aggregates_per_s'] / real['worker_aggregates_per_s']:.2f}x the worker; "
         f"{real['history_aggregates_per_cpu_s']:,.0f} per CPU s "
         f"({real['history_aggregates_per_cpu_s'] / real['worker_aggregates_per_cpu_s']:.2f}x)"),
        (f"series over 24 h, p95 ({reads['series_requests']} calls)",
         f"{reads['series_p95_ms']:.1f} ms", "target < 100 ms"),
        ("  p50", f"{reads['series_p50_ms']:.1f} ms", ""),
        (f"overview API, {args.hosts} hosts", f"{reads['overview_api_ms']:.0f} ms", ""),
        (f"overview first load in chromium, {args.hosts} hosts",
         f"{reads['overview_load_median_s']:.2f} s", "median of 5; target < 2 s"),
    ]  # fmt: skip
    print(f"{'measure':52} {'value':>14}  note")
    for name, value, note in rows:
        print(f"{name:52} {value:>14}  {note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": platform.platform(), "python": platform.python_version(),
        "args": vars(args), "ingest": ingest, "reads": reads,
    }, indent=2))  # fmt: skip
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
