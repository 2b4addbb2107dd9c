"""The agent's process entry: config in, signals handled, runtime run. No pipeline imports."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from agents.runtime import AgentRuntime

if TYPE_CHECKING:
    from schemas.config import TokaConfig

__all__ = ["run_agent"]


def run_agent(cfg: TokaConfig, *, once: bool = False, verbose: bool = False) -> int:
    """Run until SIGTERM/SIGINT (or one collection with ``once``); return the exit code."""
    if not verbose:
        # aiokafka logs every reconnect attempt as an error: a day of outage would write tens
        # of thousands of lines on every host. The publisher logs outages itself, rate-limited
        # and with the cause; -v shows aiokafka's own lines again.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return asyncio.run(_main(cfg, once))


async def _main(cfg: TokaConfig, once: bool) -> int:
    runtime = AgentRuntime(cfg)
    if once:
        return await runtime.run_once()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.run(stop)
    logging.getLogger("toka.agent").info("toka agent: stopped")
    return 0
