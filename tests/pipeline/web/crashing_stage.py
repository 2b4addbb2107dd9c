"""A worker with one test stage that fails on demand, run as a real process by the tests.

``python -m tests.pipeline.web.crashing_stage``: the web stage (with short health windows)
plus an agent on the benchmarks topic that, per record value:
  b"fail"  raises inside its ProcessingGuard (counted as an error, skipped);
  b"crash" raises outside it, crashing the actor (Faust's supervisor restarts it);
  b"stop"  returns from the agent: Faust neither restarts nor reports it (faust#175);
  b"hang"  never returns (a stage stuck in an await: the records after it stall);
  anything else completes (counted ok).
Every record handled is counted in the context's progress, as the runtimes do.
"""

from __future__ import annotations

import asyncio
import time

import faust

from pipeline.runtime.context import StageContext

AGENT = "toka-test-crashy"


def install(ctx: StageContext) -> None:
    guard = ctx.guard("flaky")
    ctx.progress.watch(ctx.topics.benchmarks.get_topic_name())

    @ctx.app.agent(ctx.topics.benchmarks, name=AGENT)
    async def crashy(stream: faust.StreamT) -> None:
        async for event in stream.events():
            value, msg = event.value, event.message
            if value == b"hang":
                await asyncio.sleep(3600)
            if value == b"crash":
                raise RuntimeError("poison record outside any guard")
            if value == b"stop":
                return
            with guard.record():
                if value == b"fail":
                    raise ValueError("a record this stage cannot handle")
            ctx.progress.record(msg.topic, msg.partition, msg.offset, time.time())


def main() -> None:
    from pipeline.app import create_pipeline
    from pipeline.cli.worker_cmd import make_worker
    from pipeline.web import HealthPolicy
    from pipeline.web import stage as web_stage
    from schemas.config import load_config

    cfg = load_config(None)
    ctx = create_pipeline(cfg, stages=[__name__])
    policy = HealthPolicy(crash_window_seconds=6, error_window_seconds=60, min_errors=3)
    web_stage.install(ctx, policy=policy)
    make_worker(ctx.app, "info").execute_from_commandline()


if __name__ == "__main__":
    main()
