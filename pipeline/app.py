"""The Faust app: one per worker process, and the whole data flow of one worker.

    toka.metrics --windows--> toka.aggregates, aggregate-batches --+--> window sinks: alerts
    toka.spans, otlp_spans --spans--> (the same)                    |      -> toka.alerts
    toka.alerts --sinks (Alertmanager, if configured)               |
    aggregate-batches (+ benchmarks, baseline-commands) --regressions--> toka.regressions
    aggregate-batches --anomalies--> toka.anomalies
    aggregate-batches --capacity--> toka.capacity
    every bad or late record --> toka.deadletter (by the runtime, pipeline.runtime)
    web: /metrics, /healthz (stalls, crashes, failing stages), /readyz

Every stage module has ``install(ctx)``: ``create_pipeline`` builds one typed
``StageContext`` (app, config, topics, guards, progress, window sinks) and hands it to each
stage in order; nothing is stashed on the Faust app. Windows and spans run on the
windowed-ingest runtime, the analytics stages on the analytics loop (pipeline.runtime).

Every topic carries raw bytes: the runtime decodes them, so a bad record goes to the
dead-letter topic instead of failing inside Faust's deserialiser.
"""

from __future__ import annotations

import importlib
import socket
from pathlib import Path
from typing import Any

import faust

from pipeline.partitioner import CachingPartitioner
from pipeline.runtime.context import StageContext, Topics
from pipeline.runtime.progress import Progress
from pipeline.topics import apply_changelog_settings
from schemas.config import TokaConfig

__all__ = ["STAGE_MODULES", "Topics", "create_app", "create_pipeline", "enabled_stages"]

#: Stage modules, each with ``install(ctx)``, installed in this order.
STAGE_MODULES = [
    "pipeline.windows.stage",  # metrics -> windows -> aggregates, window sinks
    "pipeline.spans.stage",  # spans, OTLP spans -> RED windows -> the same
    "pipeline.otlp_metrics.stage",  # the Collector's otlp_metrics -> toka.metrics
    "pipeline.alerts.stage",  # a window sink: closed windows -> rules -> toka.alerts
    "pipeline.sinks.stage",  # toka.alerts -> Alertmanager
    "pipeline.regressions.stage",  # aggregate batches, benchmarks -> regressions
    "pipeline.anomalies.stage",  # aggregate batches -> anomalies
    "pipeline.capacity.stage",  # aggregate batches -> capacity forecasts
    "pipeline.profiles.stage",  # profile reports -> profile findings (toka.profiles)
    "pipeline.web.stage",  # /metrics, /healthz, /readyz; counts agent crashes
]


#: Stages a performance switch turns off (the analytics stages read their own ``enabled``).
_SWITCHED = {
    "pipeline.windows.stage": "metrics_enabled",
    "pipeline.otlp_metrics.stage": "metrics_enabled",
    "pipeline.spans.stage": "tracing_enabled",
    "pipeline.profiles.stage": "profiling_enabled",
}


def enabled_stages(cfg: TokaConfig) -> list[str]:
    """STAGE_MODULES less the ones the configuration switches off."""
    return [
        module
        for module in STAGE_MODULES
        if getattr(cfg.performance, _SWITCHED.get(module, ""), True)
    ]


def _app_options(cfg: TokaConfig) -> dict[str, Any]:
    opts = cfg.kafka.client_options()
    out: dict[str, Any] = {}
    if "ssl_context" in opts or "sasl_mechanism" in opts:
        out["broker_credentials"] = _credentials(opts)
    return out


def _credentials(opts: dict[str, Any]) -> Any:
    from faust.auth import SASLCredentials, SSLCredentials

    if "sasl_mechanism" in opts:
        return SASLCredentials(
            username=opts["sasl_plain_username"],
            password=opts["sasl_plain_password"],
            ssl_context=opts.get("ssl_context"),
            mechanism=opts["sasl_mechanism"],
        )
    return SSLCredentials(opts["ssl_context"])


def create_app(cfg: TokaConfig, stages: list[str] | None = None, **overrides: Any) -> faust.App:
    """The app with every stage (or those named in ``stages``) installed."""
    return create_pipeline(cfg, stages, **overrides).app


def create_pipeline(
    cfg: TokaConfig, stages: list[str] | None = None, **overrides: Any
) -> StageContext:
    """Build the app and its stages; returns the context they share."""
    settings: dict[str, Any] = {
        "broker": "kafka://" + cfg.kafka.bootstrap_servers.replace(",", ";kafka://"),
        "store": "memory://",
        # The check compares a table's local changelog offset with the topic's end offset; with
        # tables in memory the local offset only comes from this process's own earlier
        # assignment, and the embedded broker reports an end offset below the real one (the
        # last batch's base + 1): a worker taking a partition back crashed with
        # ConsistencyError (41 > 36) in the scale-out test. A real cluster is unaffected.
        "recovery_consistency_check": False,
        "topic_partitions": cfg.pipeline.partitions,
        "web_port": cfg.pipeline.web_port,
        # web_host only names the worker in URLs; web_bind is where it listens.
        "web_host": "127.0.0.1" if cfg.pipeline.web_bind == "127.0.0.1" else socket.gethostname(),
        "web_bind": cfg.pipeline.web_bind,
        # Faust would also read unprefixed variables (WEB_PORT, BROKER_URL...) over these
        # settings; a Kubernetes service link named `web` would then break start-up.
        "env": {},
        # Faust's /router and /table views would hand table contents (alert state) to
        # anyone who reaches the port.
        # pipeline.web serves /metrics, /healthz and /readyz there instead.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "table_cleanup_interval": 30.0,
        "datadir": str(cfg.pipeline.data_dir),
        # The windows stage holds acks until its windows close; a rebalance must not wait
        # for them (the new owner replays the uncommitted records instead).
        "stream_wait_empty": False,
        # One record is a whole scrape: fetch and buffer many per round trip (measured by
        # bench/pipeline: 88k -> 114k samples/s on one worker).
        "consumer_max_fetch_size": 16 * 1024 * 1024,
        "stream_buffer_maxsize": 32768,
        "broker_max_poll_records": 10000,
        "producer_partitioner": CachingPartitioner(),
        # A window close sends a record per series: gather them into large produce requests
        # (10 ms adds nothing that shows to alert latency; bench/pipeline at one sample per
        # aggregate: 19-21k -> 26-27k samples/s, and far fewer requests for the broker).
        "producer_linger": 0.01,
        "producer_max_batch_size": 256 * 1024,
        "broker_session_timeout": cfg.pipeline.session_timeout_seconds,
        "broker_heartbeat_interval": max(1.0, cfg.pipeline.session_timeout_seconds / 10),
        # No stage uses Faust's leader election (on_leader timers); its topic would be one
        # more created with Faust's replication factor instead of pipeline.topics.
        "topic_disable_leader": True,
        **_app_options(cfg),
    }
    settings.update(overrides)
    # Faust creates only the last level of its data directory.
    Path(settings["datadir"]).mkdir(parents=True, exist_ok=True)
    app = faust.App(cfg.pipeline.app_id, **settings)
    t = cfg.kafka.topic
    topics = Topics(
        **{
            kind: app.topic(t(kind), key_type=bytes, value_type=bytes)
            for kind in Topics.__dataclass_fields__
        }
    )
    ctx = StageContext(app, cfg, topics, Progress(cfg.pipeline.stall_seconds))
    for module in enabled_stages(cfg) if stages is None else stages:
        importlib.import_module(module).install(ctx)
    apply_changelog_settings(app, cfg)  # every table exists now; Faust creates them at start
    return ctx
