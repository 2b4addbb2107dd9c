"""The three measurements: raw consume + decode, the pure core, and a real Faust worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.windows.core import WindowStore
from schemas import MetricBatch, decode
from schemas.config import TokaConfig

__all__ = ["produce", "measure_core", "measure_raw", "measure_sketch", "measure_worker"]

_FETCH = {"fetch_max_bytes": 64 * 2**20, "max_partition_fetch_bytes": 16 * 2**20}


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1 << 20, max_request_size=8 << 20)  # fmt: skip
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def measure_raw(bootstrap: str, topic: str, expect: int) -> dict[str, float]:
    """aiokafka consume + orjson decode, no processing: samples, seconds, cpu_seconds."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, **_FETCH)  # fmt: skip
    await consumer.start()
    samples = seen = 0
    t0 = c0 = None
    try:
        while seen < expect:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if t0 is None and batches:
                # From the first fetched record: no connection or metadata time.
                t0, c0 = time.perf_counter(), time.process_time()
            for msgs in batches.values():
                for m in msgs:
                    samples += len(orjson.loads(m.value)["samples"])
                seen += len(msgs)
        return {"samples": samples, "seconds": time.perf_counter() - (t0 or 0.0),
                "cpu_seconds": time.process_time() - (c0 or 0.0)}  # fmt: skip
    finally:
        await consumer.stop()


def measure_core(records: list[tuple[bytes, bytes]], sizes: list[float]) -> dict[str, float]:
    """schemas.decode + WindowStore.add_batch + close_due per record, in-process, as the
    worker does (each batch dropped after use): samples per CPU second of each part.
    Also msgspec's typed JSON decoder on the same bytes, for comparison with schemas.decode."""
    import msgspec

    stores: dict[bytes, WindowStore] = {}
    aggs = n = 0
    t_decode = t_fold = 0.0
    clock = time.process_time  # CPU seconds: the same figure whatever else the machine runs
    for key, value in records:
        t0 = clock()
        b = decode(value, MetricBatch)
        t1 = clock()
        store = stores.get(key[-1:])  # stand-in for partitions: a few stores, as a worker has
        if store is None:
            store = stores[key[-1:]] = WindowStore(sizes)
        store.add_batch(b, now=b.ts)
        aggs += len(store.close_due(now=b.ts))
        t_decode += t1 - t0
        t_fold += clock() - t1
        n += len(b.samples)
    for store in stores.values():
        store.watermark += 3600.0
        aggs += len(store.close_due(now=time.time() + 3600))
    typed = msgspec.json.Decoder(MetricBatch)
    t0 = clock()
    for _, value in records:
        typed.decode(value)
    t_typed = clock() - t0
    return {"samples": n, "decode_per_s": n / t_decode, "fold_per_s": n / t_fold,
            "both_per_s": n / (t_decode + t_fold), "msgspec_typed_decode_per_s": n / t_typed,
            "aggregates": aggs}  # fmt: skip


def measure_worker(
    cfg: TokaConfig,
    expect: int,
    log: Path,
    stages: list[str] | None = None,
    timeout: float = 900.0,
) -> dict[str, float]:
    """Run a real worker (every stage of ``toka worker``, or ``stages``) over the topic until it
    has taken every record and its analytics have caught up (``_finished``)."""
    env = {
        **os.environ,
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
        "TOKA_KAFKA__TOPIC_PREFIX": cfg.kafka.topic_prefix,
        "TOKA_PIPELINE__APP_ID": cfg.pipeline.app_id,
        "TOKA_PIPELINE__PARTITIONS": str(cfg.pipeline.partitions),
        "TOKA_PIPELINE__WINDOW_SECONDS": orjson.dumps(cfg.pipeline.window_seconds).decode(),
        "TOKA_PIPELINE__DATA_DIR": str(log.parent / "worker-data"),
        "TOKA_PIPELINE__WEB_PORT": str(cfg.pipeline.web_port),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    if stages:
        env["TOKA_BENCH_STAGES"] = ",".join(stages)
    progress = log.with_name(log.stem + ".progress")
    progress.write_text("")
    env["TOKA_BENCH_PROGRESS"] = str(progress)
    runner = Path(__file__).with_name("worker_main.py")
    pyargs = os.environ.get("TOKA_BENCH_PYARGS", "").split()  # e.g. "-m cProfile -o F"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, *pyargs, str(runner), "worker"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        start = time.time()
        while time.time() - start < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {log}")
            points = [tuple(map(float, ln.split())) for ln in progress.read_text().splitlines()
                      if ln.count(" ") == 4]  # fmt: skip
            span = _finished(points, expect)
            if span is not None:
                return {**span, "startup_s": span["t0"] - start}
            time.sleep(0.2)
        raise TimeoutError(f"worker did not finish in {timeout}s; see {log}")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _finished(points: list[tuple[float, ...]], expect: int) -> dict[str, float] | None:
    """From the last report before the first record to the first report at which the worker
    has taken every record AND its slowest analytics stream has taken every batch sent by
    then (a full worker is not done while its analytics lag)."""
    read_all = [p for p in points if p[1] >= expect]
    if not read_all:
        return None
    t1, n1, c1, sent1, _ = read_all[0]
    caught_up = [p for p in read_all if p[4] >= sent1]
    if not caught_up:
        return None
    t2, _, c2, _, _ = caught_up[0]
    t0, n0, c0, _, _ = max((p for p in points if p[1] == 0), default=points[0])
    return {"records": int(n1 - n0), "seconds": t2 - t0, "cpu_seconds": c2 - c0, "t0": t0,
            "windows_seconds": t1 - t0, "analytics_lag_s": t2 - t1,
            "aggregate_batches": int(sent1)}  # fmt: skip


def measure_sketch(n: int = 200_000) -> dict[str, float]:
    """Quantile sketch cost per value, CPU ns: the ``ddsketch`` package (add per value) vs
    ours (pipeline.windows.sketch: per-value Python loop, and numpy bulk as windows use it),
    and the relative error of each at p99 on lognormal data against numpy's exact value."""
    import numpy as np
    from ddsketch import DDSketch as PackageSketch

    from pipeline.windows.sketch import DDSketch

    values = np.random.default_rng(1).lognormal(0.0, 2.0, n)
    as_list = values.tolist()
    exact = float(np.quantile(values, 0.99, method="lower"))
    clock = time.process_time
    t = clock()
    pkg = PackageSketch(relative_accuracy=0.01)
    for v in as_list:
        pkg.add(v)
    t_pkg = clock() - t
    t = clock()
    ours_py = DDSketch(0.01)
    ours_py._add_py(as_list)
    t_py = clock() - t
    t = clock()
    ours_np = DDSketch(0.01).add_many(as_list)
    t_np = clock() - t
    return {
        "values": n,
        "ddsketch_package_ns": t_pkg / n * 1e9,
        "ours_python_ns": t_py / n * 1e9,
        "ours_numpy_bulk_ns": t_np / n * 1e9,
        "ddsketch_package_p99_rel_error": abs(pkg.get_quantile_value(0.99) - exact) / exact,
        "ours_p99_rel_error": abs(ours_np.quantiles([0.99])[0] - exact) / exact,
    }
