"""The stream processors' settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.config.base import Block
from schemas.config.credentials import HttpCredentials, refuse_url_credentials
from schemas.config.endpoint import EndpointSecurity
from schemas.config.topics import TopicsConfig

__all__ = ["PipelineConfig"]


class PipelineConfig(Block):
    app_id: str = "toka-pipeline"
    window_seconds: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [10.0, 60.0], min_length=1
    )
    grace_seconds: float = Field(5.0, ge=0)
    idle_close_seconds: float = Field(15.0, gt=0)
    # Hopping windows: a new window every hop_seconds (None: tumbling windows).
    hop_seconds: float | None = Field(None, gt=0)
    # Cardinality caps per partition; series beyond them fold into an overflow series.
    max_series_per_metric: int = Field(10_000, ge=1)
    max_series_total: int = Field(200_000, ge=1)
    # Idle series are forgotten after this long (wall clock), freeing their cap slot.
    series_ttl_seconds: float = Field(300.0, gt=0)
    # Samples stamped further than this ahead of the worker's clock are dropped.
    max_future_seconds: float = Field(600.0, gt=0)
    # The window watermark never runs further ahead of the worker's clock than this, so a
    # host with a fast clock cannot make the other hosts of its partition late.
    max_clock_skew_seconds: float = Field(30.0, ge=0)
    # /healthz fails when a partition has records fetched and waiting but none processed
    # for this long (a stuck stage, or records lost inside the consumer).
    stall_seconds: float = Field(60.0, gt=0)
    # Gauge window aggregates also carry their quantile sketch (bigger records), so
    # consumers can merge percentiles exactly across partitions, hosts or windows.
    emit_sketches: bool = False
    # The OpenTelemetry Collector Kafka exporter's spans topic (not prefixed), or "" for none.
    otlp_spans_topic: str = "otlp_spans"
    # The Collector Kafka exporter's metrics topic (not prefixed), or "" for none: its
    # metrics join toka.metrics, re-keyed by resource.
    otlp_metrics_topic: str = "otlp_metrics"
    rules_file: Path | None = None
    partitions: int = Field(4, ge=1)
    web_port: int = Field(6066, ge=1, le=65535)
    # Address the worker's web server (/metrics, /healthz) listens on; 0.0.0.0 for all.
    web_bind: str = "127.0.0.1"
    # Token, rate limits, timeouts and connection cap of that web server (probes are open).
    web_security: EndpointSecurity = EndpointSecurity()
    data_dir: Path = Path(".toka/worker")
    # How long the group waits for a silent worker before giving its partitions away.
    session_timeout_seconds: float = Field(30.0, ge=3)
    # Alertmanager sink: POST /api/v2/alerts to every URL (base URL, e.g.
    # http://alertmanager:9093); an empty list turns the sink off.
    alertmanager_urls: list[
        Annotated[str, Field(pattern=r"^https?://"), AfterValidator(refuse_url_credentials)]
    ] = Field(default_factory=list)
    # Basic auth or a bearer token for every Alertmanager URL (never inside the URL).
    alertmanager_auth: HttpCredentials = HttpCredentials()
    # CA bundle that signs the Alertmanagers' https certificates (None: the system's CAs).
    alertmanager_ca_file: Path | None = None
    # Active alerts are re-sent this often, as Alertmanager expects (Prometheus: 1 min);
    # a firing alert's endsAt is 4 resends ahead, so a dead pipeline's alerts expire.
    alertmanager_resend_seconds: float = Field(60.0, gt=0)
    alertmanager_timeout_seconds: float = Field(10.0, gt=0)
    # Replication, min.insync.replicas and retention of the topics the worker creates
    # (schemas/config/topics.py); the defaults leave each to the broker.
    topics: TopicsConfig = TopicsConfig()
