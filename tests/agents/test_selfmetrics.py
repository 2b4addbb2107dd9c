"""The agent's own /metrics and /healthz, served while it runs against the real broker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.runtime import AgentRuntime
from pipeline.broker import EmbeddedBroker
from schemas.config import load_config
from tests.agents._support import agent_config_file

pytestmark = pytest.mark.integration


async def test_metrics_and_health(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path):
    cfg = load_config(
        agent_config_file(
            tmp_path, broker.bootstrap, topic_prefix,
            sources={"system": {"interval_seconds": 0.3, "top_processes": 0}},
            http={"enabled": True, "port": 0},
        )
    )  # fmt: skip
    runtime = AgentRuntime(cfg)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if (
                runtime.metrics.value(
                    "toka_agent_records_sent_total", topic=f"{topic_prefix}metrics"
                )
                >= 2
            ):
                break
        base = f"http://127.0.0.1:{runtime.http_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as r:
                assert r.status == 200
                text = await r.text()
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
                assert (await r.json())["status"] == "ok"
            values = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text)
                for s in fam.samples
            }
            assert values[("toka_agent_records_collected_total", (("source", "system"),))] >= 2
            assert (
                values[("toka_agent_records_sent_total", (("topic", f"{topic_prefix}metrics"),))]
                >= 2
            )
            assert values[("toka_agent_broker_up", ())] == 1
            assert values[("toka_agent_collect_seconds_count", (("source", "system"),))] >= 2
            last = values[("toka_agent_last_collect_timestamp_seconds", (("source", "system"),))]
            assert abs(last - time.time()) < 10
            for name in ("toka_agent_queue_depth", "toka_agent_spool_bytes",
                         "toka_agent_send_latency_seconds_count",
                         "toka_agent_process_resident_memory_bytes"):  # fmt: skip
                assert (name, ()) in values

            runtime._loops["system"].cancel()  # a collection loop that died
            await asyncio.sleep(0.05)
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 503
                assert (await r.json())["dead_sources"] == ["system"]
    finally:
        stop.set()
        await task


async def test_port_in_use_is_reported_not_fatal(
    broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path
):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = load_config(
            agent_config_file(
                tmp_path, broker.bootstrap, topic_prefix, http={"enabled": True, "port": port}
            )
        )
        runtime = AgentRuntime(cfg)
        await runtime.start()
        await runtime.start_servers()
        assert runtime.failures == ["http"]
        assert runtime.health()["not_started"] == ["http"]
        assert await runtime.collect(next(iter(runtime.sources)))
        await runtime.close()
