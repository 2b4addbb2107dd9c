"""The host agent's settings: sources, publisher, spool, redaction, limits, self-observability."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from schemas.config.base import Block
from schemas.config.credentials import HttpCredentials, refuse_url_credentials
from schemas.config.endpoint import EndpointSecurity
from schemas.config.profiling import ProfilingConfig

__all__ = [
    "AgentConfig",
    "AgentHttpConfig",
    "AgentLimits",
    "AgentSources",
    "OtlpReceiverConfig",
    "PrometheusSourceConfig",
    "PrometheusTarget",
    "PublisherConfig",
    "RedactionConfig",
    "RedactionRule",
    "SystemSourceConfig",
]

_PSEUDO_FS = [
    "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
    "devpts", "mqueue", "nsfs", "fuse.lxcfs", "autofs", "tracefs", "debugfs", "ramfs",
]  # fmt: skip


class SystemSourceConfig(Block):
    enabled: bool = True
    interval_seconds: float = Field(default=10.0, gt=0)
    per_core: bool = True
    top_processes: int = Field(
        default=5, ge=0, description="top N by CPU and by memory; 0 turns off"
    )
    cmdline_max_chars: int = Field(default=120, ge=0)
    exclude_fstypes: list[str] = Field(default_factory=lambda: list(_PSEUDO_FS))


class PrometheusTarget(Block):
    url: HttpUrl
    job: str | None = None
    labels: dict[str, str] = {}
    honor_labels: bool = False  # as Prometheus: clashing exposed labels become exported_*
    auth: HttpCredentials = HttpCredentials()  # basic auth or bearer token, not in the URL

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: HttpUrl) -> HttpUrl:
        refuse_url_credentials(str(url))
        return url


class PrometheusSourceConfig(Block):
    enabled: bool = False
    interval_seconds: float = Field(default=15.0, gt=0)
    timeout_seconds: float = Field(default=5.0, gt=0)
    targets: list[PrometheusTarget] = []


class OtlpReceiverConfig(Block):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=4318, ge=0, le=65535)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    batch_max_spans: int = Field(default=512, gt=0, description="spans per SpanBatch record")
    batch_max_age_seconds: float = Field(default=1.0, gt=0)
    security: EndpointSecurity = EndpointSecurity()


class AgentSources(Block):
    system: SystemSourceConfig = SystemSourceConfig()
    prometheus: PrometheusSourceConfig = PrometheusSourceConfig()
    otlp: OtlpReceiverConfig = OtlpReceiverConfig()


class PublisherConfig(Block):
    queue_size: int = Field(
        default=1000, gt=0, description="records held in memory before the spool"
    )
    compression: Literal["zstd", "lz4", "gzip", "snappy", "none"] = "zstd"
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_backoff_seconds: float = Field(default=0.5, gt=0)
    max_backoff_seconds: float = Field(default=5.0, gt=0)
    linger_ms: int = Field(default=5, ge=0)
    max_record_bytes: int = Field(default=1024 * 1024, gt=0)
    shutdown_timeout_seconds: float = Field(default=10.0, ge=0)
    spool_enabled: bool = True
    # None: resolved at start-up (agents.runtime.spool_path): $STATE_DIRECTORY/spool under
    # systemd's StateDirectory=, else $XDG_STATE_HOME/toka/spool, one subdirectory per cluster.
    spool_dir: Path | None = None
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    spool_segment_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    drop_policy: Literal["oldest", "newest"] = "oldest"
    fsync: bool = False


class RedactionRule(Block):
    """Match a label / span-attribute key or value by regex, then drop, hash or mask it."""

    key: str | None = None
    value: str | None = None
    action: Literal["drop", "hash", "mask"] = "mask"

    @model_validator(mode="after")
    def _has_pattern(self) -> RedactionRule:
        if not (self.key or self.value):
            raise ValueError("a redaction rule needs a key or a value pattern")
        return self


class RedactionConfig(Block):
    enabled: bool = True
    # Secret keys, bearer tokens, JWTs, command-line/environment secrets, URL credentials,
    # token query parameters and e-mail addresses (agents/redact.py).
    default_rules: bool = True
    # Also mask IPv4 and IPv6 addresses (off: most host metrics are about addresses).
    ip_addresses: bool = False
    rules: list[RedactionRule] = []
    hash_salt: SecretStr = SecretStr("")


class AgentLimits(Block):
    max_samples_per_collection: int = Field(default=20_000, gt=0)
    max_series_per_collection: int = Field(default=20_000, gt=0)
    max_spans_per_second: float = Field(default=100_000, gt=0)


class AgentHttpConfig(Block):
    """The agent's own /metrics and /healthz."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=0, le=65535)
    security: EndpointSecurity = EndpointSecurity()


class AgentConfig(Block):
    host: str = Field(default_factory=socket.gethostname, min_length=1)
    # The interval of every source that does not set its own (when set here).
    interval_seconds: float = Field(default=10.0, gt=0)
    # Collect just before each multiple of the interval (wall clock), so windows close as
    # soon as the collection arrives (see README); false: a free-running schedule.
    align_collections: bool = True
    env: str = "default"
    sources: AgentSources = AgentSources()
    publisher: PublisherConfig = PublisherConfig()
    redaction: RedactionConfig = RedactionConfig()
    limits: AgentLimits = AgentLimits()
    http: AgentHttpConfig = AgentHttpConfig()
    profiling: ProfilingConfig = ProfilingConfig()
