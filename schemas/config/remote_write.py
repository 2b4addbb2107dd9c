"""The Prometheus remote-write exporter (``toka remote-write``): off by default."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from schemas.config.base import Block

__all__ = ["RemoteWriteConfig"]


class RemoteWriteConfig(Block):
    enabled: bool = False
    #: The receiver's write endpoint, e.g. http://prometheus:9090/api/v1/write (Prometheus
    #: started with --web.enable-remote-write-receiver), Mimir's /api/v1/push.
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    #: Extra request headers (X-Scope-OrgID for Mimir, Authorization); masked when printed.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_seconds: float = Field(10.0, gt=0)
    #: Samples per request (Prometheus' own sender: 2000).
    max_samples_per_request: int = Field(2000, ge=1)
    #: Retries of 5xx, 429 and network errors: backoff from min to max, for as long as it
    #: takes; offsets are committed only after the receiver took the samples.
    min_backoff_seconds: float = Field(0.5, gt=0)
    max_backoff_seconds: float = Field(30.0, gt=0)
    #: What it sends: window aggregates, findings (regressions, anomalies, capacity), alerts.
    aggregates: bool = True
    findings: bool = True
    alerts: bool = True
    #: The exporter's own /metrics (sent, rejected, retries); 0 turns it off.
    web_port: int = Field(9467, ge=0, le=65535)
    web_bind: str = "127.0.0.1"

    @model_validator(mode="after")
    def _url_when_enabled(self) -> RemoteWriteConfig:
        if self.enabled and self.url is None:
            raise ValueError(
                "url: required when enabled (e.g. http://prometheus:9090/api/v1/write)"
            )
        if self.min_backoff_seconds > self.max_backoff_seconds:
            raise ValueError("min_backoff_seconds must not exceed max_backoff_seconds")
        return self
