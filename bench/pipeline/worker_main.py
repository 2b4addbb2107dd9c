"""A worker as ``toka worker`` builds it, plus a timer that appends its progress to
TOKA_BENCH_PROGRESS every 0.1 s: wall time, metrics records taken by the stage reading
them, CPU seconds, aggregate batches sent, and the fewest batches any one analytics stream
has taken so far. So the bench measures processing itself (committed offsets trail it by
the windows' hold-back span), in wall-clock and in CPU seconds (fair on a shared machine),
and a full worker is not done before its analytics stages have caught up.

Config from TOKA_... variables; TOKA_BENCH_STAGES (comma-separated stage modules) and
TOKA_BENCH_FAUST (JSON Faust settings) narrow or tune it.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

import orjson
from faust import Sensor

from pipeline.app import create_pipeline
from pipeline.cli.worker_cmd import make_worker
from pipeline.web.sensor import OutputSensor
from schemas.config import load_config


class StreamProgress(Sensor):
    """Records taken per stream and partition of one topic (Faust's monitor keeps only the
    latest offset per partition, whichever stream read it)."""

    def __init__(self, topic: str, streams: int) -> None:
        super().__init__()
        self.topic, self.streams = topic, streams
        self.taken: dict[int, dict[Any, int]] = defaultdict(dict)

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        if tp.topic == self.topic:
            self.taken[id(stream)][tp] = offset + 1

    def fewest(self) -> int:
        if len(self.taken) < self.streams:  # a stream that has taken nothing yet
            return 0
        return min((sum(tps.values()) for tps in self.taken.values()), default=0)


if __name__ == "__main__":
    cfg = load_config(None)
    stages = os.environ.get("TOKA_BENCH_STAGES")
    overrides = orjson.loads(os.environ.get("TOKA_BENCH_FAUST") or "{}")
    ctx = create_pipeline(cfg, stages=stages.split(",") if stages else None, **overrides)
    app = ctx.app
    progress = open(os.environ["TOKA_BENCH_PROGRESS"], "a", buffering=1)  # noqa: SIM115
    metrics = ctx.topics.metrics.get_topic_name()
    batches = cfg.kafka.topic("aggregate-batches")
    readers = [a for a in app.agents.values() if batches in getattr(a.channel, "topics", ())]
    analytics = StreamProgress(batches, len(readers))
    app.sensors.add(analytics)
    if not any(isinstance(s, OutputSensor) for s in app.sensors):  # stages without web
        app.sensors.add(OutputSensor("", "", ""))
    sent = next(s for s in app.sensors if isinstance(s, OutputSensor)).sent

    @app.timer(interval=0.1)
    async def report() -> None:
        # Offsets of the last metrics records handed to the stage reading them (one at a time).
        read = app.monitor.tp_read_offsets
        done = sum(off + 1 for tp, off in list(read.items()) if tp.topic == metrics)
        fewest = analytics.fewest() if readers else sent[batches]
        progress.write(f"{time.time()} {done} {time.process_time()} {sent[batches]} {fewest}\n")

    make_worker(app).execute_from_commandline()
