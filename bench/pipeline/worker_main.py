"""A worker as ``toka worker`` builds it, plus a timer that appends the number of metrics
records its windows agent has taken, and its CPU time, to TOKA_BENCH_PROGRESS every 0.1 s,
so the bench measures processing itself (committed offsets trail it by the windows'
hold-back span), in wall-clock and in CPU seconds (fair on a shared machine).

Config from TOKA_... variables; TOKA_BENCH_STAGES (comma-separated stage modules) and
TOKA_BENCH_FAUST (JSON Faust settings) narrow or tune it.
"""

from __future__ import annotations

import os
import time

import orjson
from faust.worker import Worker

from pipeline.app import create_app
from schemas.config import load_config

if __name__ == "__main__":
    stages = os.environ.get("TOKA_BENCH_STAGES")
    overrides = orjson.loads(os.environ.get("TOKA_BENCH_FAUST") or "{}")
    app = create_app(load_config(None), stages=stages.split(",") if stages else None, **overrides)
    progress = open(os.environ["TOKA_BENCH_PROGRESS"], "a", buffering=1)  # noqa: SIM115

    metrics = app.toka_topics.metrics.get_topic_name()
    if os.environ.get("TOKA_BENCH_GC"):  # experiment: "freeze" or a gen0 threshold
        import gc

        mode = os.environ["TOKA_BENCH_GC"]
        if mode == "freeze":
            gc.freeze()
        else:
            gc.set_threshold(int(mode), 50, 100)

    @app.timer(interval=0.1)
    async def report() -> None:
        # Offsets of the last metrics records handed to the windows agent (one at a time).
        read = app.monitor.tp_read_offsets
        done = sum(off + 1 for tp, off in list(read.items()) if tp.topic == metrics)
        progress.write(f"{time.time()} {done} {time.process_time()}\n")

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
