"""A real `toka worker` and `toka agent` on the embedded broker, scraped by a real
Prometheus running the example config of deploy/prometheus (targets rewritten).

Good, undecodable and late records go in; the counters Prometheus holds afterwards must be
exactly what was sent: records consumed, dead letters by reason, late samples, the alert.
The example's dashboard queries and self-alert rules run on the same real series.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.broker import EmbeddedBroker, free_port
from pipeline.topics import ensure_topics
from schemas import MetricBatch, Sample, encode, new_id
from schemas.config import TokaConfig
from tests.pipeline.web.helpers import Prometheus, http_get, metric_values, wait_until, worker_env
from tests.support.kafka import publish, stop_process, toka_process

WINDOW = 2.0
DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _deploy_queries_run_on(prom: Prometheus) -> None:
    """The Grafana dashboard and the self-alert rules of deploy/ name only metrics this
    worker exports, and every dashboard query is valid PromQL that Prometheus answers."""
    dashboard = json.loads((DEPLOY / "grafana/dashboards/toka-worker.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus/toka-self-alerts.yml").read_text())
    alert_exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {m for e in exprs + alert_exprs for m in re.findall(r"toka_worker_\w+", e)}
    status, body = http_get(f"{prom.url}/api/v1/label/__name__/values")
    exported = set(json.loads(body)["data"])
    assert used and used <= exported, used - exported
    for expr in exprs:
        filled = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        prom.query(filled.replace("$instance", ".*"))  # raises on a query Prometheus refuses


def _agent_metrics_in_rules_exist(agent_web: str) -> None:
    """The self-alert rules name only metrics the agent declares (a labelled counter with
    no sample yet is declared all the same)."""
    from prometheus_client.parser import text_string_to_metric_families

    rules = yaml.safe_load((DEPLOY / "prometheus/toka-self-alerts.yml").read_text())
    used = {m for g in rules["groups"] for r in g["rules"]
            for m in re.findall(r"toka_agent_\w+", r["expr"])}  # fmt: skip
    text = http_get(f"http://{agent_web}/metrics")[1].decode()
    declared = set()
    for family in text_string_to_metric_families(text):
        declared |= (
            {family.name, f"{family.name}_total"} if family.type == "counter" else {family.name}
        )
    assert used and used <= declared, used - declared


def _rules_evaluated(prom: Prometheus) -> bool:
    groups = json.loads(http_get(f"{prom.url}/api/v1/rules")[1])["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 9 and all(r.get("health") in ("ok", "unknown") for r in rules), rules
    return all(r["health"] == "ok" for r in rules)


def batch(host: str, ts: float, cpu: float) -> MetricBatch:
    return MetricBatch(
        id=new_id(), host=host, source="system", ts=ts,
        samples=[Sample(name="system_cpu_percent", value=cpu),
                 Sample(name="system_memory_percent", value=20.0),
                 Sample(name="system_cpu_core_percent", value=cpu, labels={"core": "0"})],
    )  # fmt: skip


async def test_prometheus_holds_what_the_worker_counted(
    broker: EmbeddedBroker, tmp_path: Path, prometheus: Callable[[dict[str, str]], Prometheus]
) -> None:
    prefix = f"m{new_id()[:6]}."
    env = worker_env(broker, tmp_path, prefix, WINDOW)
    cfg = TokaConfig.model_validate(
        {"kafka": {"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix}}
    )
    await ensure_topics(cfg)
    web = f"127.0.0.1:{env['TOKA_PIPELINE__WEB_PORT']}"
    proc = toka_process(["worker", "--loglevel", "info"], env, tmp_path / "worker.log")
    # A real agent too, for the example's agent job; it publishes under its own prefix.
    agent_web = f"127.0.0.1:{free_port()}"
    agent_env = {
        "TOKA_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
        "TOKA_KAFKA__TOPIC_PREFIX": f"a{prefix}",
        "TOKA_AGENT__HTTP__PORT": agent_web.rsplit(":", 1)[1],
        "TOKA_AGENT__SOURCES__OTLP__ENABLED": "false",
        "TOKA_AGENT__PUBLISHER__SPOOL_DIR": str(tmp_path / "spool"),
    }
    agent = toka_process(["agent"], agent_env, tmp_path / "agent.log")
    try:
        await asyncio.to_thread(
            wait_until, lambda: http_get(f"http://{web}/readyz")[0] == 200, 40, "worker ready"
        )
        # Faust's table views are off: the port serves metrics and health, not state.
        assert http_get(f"http://{web}/table/")[0] == 404
        assert http_get(f"http://{web}/router/")[0] == 404
        host = "web-e2e"
        t = (time.time() // WINDOW) * WINDOW
        late = batch(host, t - 10 * WINDOW, cpu=50)
        records = [
            encode(batch(host, t + 0.1, cpu=95)),
            b"\x00not json",
            encode(batch(host, t + 0.5, cpu=96)),
            b'{"schema": "toka.metric_batch.v1", "id": "x", "host": 5}',  # wrong_type
            b"nope",
            # Moves the watermark past the first window: it closes and its alert fires.
            encode(batch(host, t + 3 * WINDOW, cpu=20)),
            encode(late),  # 3 samples older than the grace period
            encode(batch(host, t + 3 * WINDOW + 0.2, cpu=20)),
        ]
        await publish(broker.bootstrap, cfg.kafka.topic("metrics"),
                      [(host.encode(), r) for r in records], partition=0)  # fmt: skip

        def worker_metric(name: str) -> dict[tuple[tuple[str, str], ...], float]:
            return metric_values(http_get(f"http://{web}/metrics")[1].decode(), name)

        # The worker itself has counted everything before Prometheus is asked.
        await asyncio.to_thread(
            wait_until,
            lambda: worker_metric("toka_worker_alerts_total")
            and sum(worker_metric("toka_worker_records_consumed_total").values()) == 8,
            40, "the worker to consume 8 records and fire the alert",
        )  # fmt: skip

        # Aggregates go out through the transport producer; they are counted all the same.
        sent = worker_metric("toka_worker_records_sent_total")
        assert sent.get((("topic", f"{prefix}aggregates"),), 0) >= 3, sent

        prom = prometheus({"toka-worker": web, "toka-agent": agent_web})
        expected = {
            f'toka_worker_records_consumed_total{{topic="{prefix}metrics"}}': 8,
            'toka_worker_dead_letters_total{source="metrics",reason="not_json"}': 2,
            'toka_worker_dead_letters_total{source="metrics",reason="wrong_type"}': 1,
            'toka_worker_dead_letters_total{source="metrics",reason="late"}': 1,
            'toka_worker_late_samples_total{stage="windows"}': 3,
            'toka_worker_stage_events_total{stage="windows",event="decode"}': 3,
            'toka_worker_records_failed_total{stage="windows"}': 0,
            'toka_worker_alerts_total{status="firing",severity="critical"}': 1,
            'toka_worker_agent_crashes_total{agent="toka-windows"}': 0,
            "toka_worker_healthy": 1,
            # All 8 read: the partition's end offset is the next one to read.
            f'toka_worker_read_lag{{topic="{prefix}metrics",partition="0"}}': 0,
            'up{job="toka-worker"}': 1,
            # The example relabels an agent's instance to its host name alone.
            'up{job="toka-agent",instance="127.0.0.1"}': 1,
        }

        def held() -> dict[str, float | None]:
            got = {}
            for q in expected:
                values = list(prom.query(q).values())
                got[q] = values[0] if len(values) == 1 else None
            return got

        def matches() -> bool:
            return held() == expected

        await asyncio.to_thread(wait_until, matches, 20, "prometheus to hold the counters")
        # Exactly these dead-letter series, no others (reasons are not double counted).
        dead = prom.query("toka_worker_dead_letters_total")
        assert sum(dead.values()) == 4
        assert prom.query('toka_worker_records_processed_total{stage="windows"} >= 8')
        _deploy_queries_run_on(prom)
        _agent_metrics_in_rules_exist(agent_web)
        # The example's alerts on Toka itself evaluate without error on real series.
        await asyncio.to_thread(wait_until, lambda: _rules_evaluated(prom), 10, "rule evaluation")
    finally:
        stop_process(agent)
        code = stop_process(proc)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
