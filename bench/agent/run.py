"""Agent overhead and span throughput, side by side with prometheus-node-exporter.

    .venv/bin/python bench/agent/run.py [--duration 120] [--interval 10] [--span-seconds 15]

Measures, in one run, on one embedded Tansu broker:
  overhead  ``python -m agents`` with its defaults (system source incl. top processes, OTLP
            receiver idle, /metrics) at a 10 s interval, and prometheus-node-exporter scraped
            every 10 s over HTTP, as Prometheus would: CPU seconds per hour, % of one core,
            peak RSS (VmHWM).
  spans     OTLP/HTTP protobuf requests of 512 spans into the agent's receiver, all forwarded
            to Kafka as SpanBatch records: spans per second per core of the agent's CPU time.
Prints a table and writes bench/results/agent.json.
Targets (issue 3): <= 0.5% of one core and <= 50 MB RSS at 10 s; >= 20,000 spans/s per core.
"""

from __future__ import annotations

import argparse
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
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script (make bench) or with -m
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.agent.procs import Window, peak_rss_mb, stop, wait_port  # noqa: E402
from bench.agent.spanload import drive, make_bodies  # noqa: E402
from pipeline.broker import EmbeddedBroker, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "agent.json"
TARGET_CORE_PCT, TARGET_RSS_MB, TARGET_SPANS_PER_CORE = 0.5, 50.0, 20_000


def _agent(tmp: Path, bootstrap: str, name: str, agent: dict[str, Any], perf: dict[str, Any]):
    cfg = tmp / f"{name}.yaml"
    agent = {"publisher": {"spool_dir": str(tmp / f"spool-{name}")}, **agent}
    doc = {"kafka": {"bootstrap_servers": bootstrap, "topic_prefix": f"bench-{name}."},
           "agent": agent, "performance": perf}  # fmt: skip
    cfg.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents", "-c", str(cfg)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    return proc


def _scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback only
        return r.read()


def _metric(url: str, name: str) -> float:
    text = _scrape(url).decode()
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


def overhead(tmp: Path, bootstrap: str, duration: float, interval: float) -> dict[str, Any]:
    node_bin = shutil.which("prometheus-node-exporter")
    if node_bin is None:
        raise SystemExit("install prometheus-node-exporter (make peers)")
    http, http2, otlp, node_port = free_port(), free_port(), free_port(), free_port()
    # The configuration: the system source (with top processes) at 10 s, /metrics on.
    agent = _agent(
        tmp, bootstrap, "system",
        {"sources": {"system": {"interval_seconds": interval}, "otlp": {"enabled": False}},
         "http": {"port": http}},
        {},
    )  # fmt: skip
    # The shipped defaults add the OTLP receiver (idle here), which loads aiohttp and protobuf.
    agent2 = _agent(
        tmp, bootstrap, "defaults",
        {"sources": {"system": {"interval_seconds": interval},
                     "otlp": {"enabled": True, "port": otlp}},
         "http": {"port": http2}},
        {},
    )  # fmt: skip
    node = subprocess.Popen(
        [node_bin, f"--web.listen-address=127.0.0.1:{node_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs = {"toka agent": agent, "agent+OTLP": agent2, "node exporter": node}
    try:
        for port in (http, http2, otlp, node_port):
            wait_port(port)
        node_url = f"http://127.0.0.1:{node_port}/metrics"
        _scrape(node_url)
        time.sleep(2.0)  # past start-up (imports, first collection)
        windows = {k: Window(psutil.Process(p.pid)) for k, p in procs.items()}
        for w in windows.values():
            w.start()
        t0, next_at, scraped = time.monotonic(), time.monotonic(), 0
        while time.monotonic() - t0 < duration:
            _scrape(node_url)  # as Prometheus would, at the agent's interval
            scraped += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        for w in windows.values():
            w.stop()
        rows: dict[str, Any] = {}
        for name, w in windows.items():
            rows[name] = {
                "cpu_seconds_per_hour": round(w.cpu / w.elapsed * 3600, 2),
                "core_percent": round(w.cpu / w.elapsed * 100, 3),
                "peak_rss_mb": round(peak_rss_mb(w.proc.pid), 1),
                # Unique set size: what the process alone costs (shared libraries excluded).
                "uss_mb": round(w.proc.memory_full_info().uss / 2**20, 1),
            }
        for name, port in (("toka agent", http), ("agent+OTLP", http2)):
            url = f"http://127.0.0.1:{port}/metrics"
            rows[name]["records_sent"] = int(_metric(url, "toka_agent_records_sent_total"))
        rows["node exporter"]["scrapes"] = scraped
        elapsed = windows["toka agent"].elapsed
        return {"interval_seconds": interval, "duration_seconds": round(elapsed, 1), **rows}
    finally:
        for p in procs.values():
            stop(p)


def spans(tmp: Path, bootstrap: str, seconds: float, per_request: int) -> dict[str, Any]:
    http, otlp = free_port(), free_port()
    agent = _agent(
        tmp, bootstrap, "spans",
        {"sources": {"system": {"enabled": False},
                     "otlp": {"enabled": True, "port": otlp, "batch_max_spans": 512}},
         "limits": {"max_spans_per_second": 1e9}, "http": {"port": http}},
        {"tracing_sample_rate": 1.0},
    )  # fmt: skip
    try:
        wait_port(otlp)
        url = f"http://127.0.0.1:{otlp}/v1/traces"
        metrics = f"http://127.0.0.1:{http}/metrics"
        bodies = make_bodies(64, per_request)
        drive(url, bodies, 2.0)  # warm-up
        received0 = _metric(metrics, "toka_agent_spans_received_total")
        w = Window(psutil.Process(agent.pid))
        w.start()
        ok = drive(url, bodies, seconds)
        deadline = time.monotonic() + 60
        while json.loads(_scrape(f"http://127.0.0.1:{http}/healthz"))["pending_records"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not drain to Kafka")
            time.sleep(0.05)
        w.stop()
        received = _metric(metrics, "toka_agent_spans_received_total") - received0
        assert received == ok * per_request, (received, ok * per_request)
        return {
            "spans": int(received),
            "spans_per_request": per_request,
            "seconds": round(w.elapsed, 2),
            "agent_cpu_seconds": round(w.cpu, 2),
            "spans_per_second_wall": round(received / w.elapsed),
            "spans_per_second_per_core": round(received / w.cpu),
            "dropped": _metric(metrics, "toka_agent_records_dropped_total"),
        }
    finally:
        stop(agent)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=120.0, help="overhead window, seconds")
    ap.add_argument("--interval", type=float, default=10.0, help="collection/scrape interval")
    ap.add_argument("--span-seconds", type=float, default=15.0, help="span load, seconds")
    ap.add_argument("--spans-per-request", type=int, default=512)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d, EmbeddedBroker(port=free_port()) as broker:
        tmp = Path(d)
        ov = overhead(tmp, broker.bootstrap, args.duration, args.interval)
        sp = spans(tmp, broker.bootstrap, args.span_seconds, args.spans_per_request)
    a = ov["toka agent"]
    ok = {
        "core_percent": a["core_percent"] <= TARGET_CORE_PCT,
        "peak_rss_mb": a["peak_rss_mb"] <= TARGET_RSS_MB,
        "spans_per_core": sp["spans_per_second_per_core"] >= TARGET_SPANS_PER_CORE,
    }
    print(f"\nAgent overhead at a {args.interval:g} s interval over {ov['duration_seconds']} s "
          f"({os.cpu_count()} cores, Python {platform.python_version()})")  # fmt: skip
    print(f"{'':16}{'CPU s/hour':>12}{'% of a core':>14}{'peak RSS MB':>14}{'USS MB':>10}")
    for name in ("toka agent", "agent+OTLP", "node exporter"):
        r = ov[name]
        print(f"{name:16}{r['cpu_seconds_per_hour']:>12}{r['core_percent']:>14}"
              f"{r['peak_rss_mb']:>14}{r['uss_mb']:>10}")  # fmt: skip
    print(f"{'target (agent)':16}{TARGET_CORE_PCT * 36:>12}{TARGET_CORE_PCT:>14}"
          f"{TARGET_RSS_MB:>14}")  # fmt: skip
    print(f"\nOTLP receiver: {sp['spans']:,} spans in {sp['seconds']} s, "
          f"agent CPU {sp['agent_cpu_seconds']} s")  # fmt: skip
    print(f"  {sp['spans_per_second_per_core']:,} spans/s per core of agent CPU "
          f"({sp['spans_per_second_wall']:,} spans/s wall clock); "
          f"target >= {TARGET_SPANS_PER_CORE:,}/core")  # fmt: skip
    print("targets met: " + ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in ok.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "agent", "python": platform.python_version(), "cores": os.cpu_count(),
        "overhead": ov, "spans": sp, "targets": {
            "core_percent": TARGET_CORE_PCT, "peak_rss_mb": TARGET_RSS_MB,
            "spans_per_second_per_core": TARGET_SPANS_PER_CORE}, "met": ok,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
