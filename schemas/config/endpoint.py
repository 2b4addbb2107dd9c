"""Security settings of one HTTP listener (agent /metrics and OTLP, worker web, dashboard)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from schemas.config.base import Block

__all__ = ["EndpointSecurity"]


class EndpointSecurity(Block):
    """Applied by ``agents.endpoint``: the listener's address is set beside this block."""

    # A bearer token every request must carry (``Authorization: Bearer ...``), read once at
    # start from a file (a mounted secret) or from the environment variable named here.
    bearer_token_file: Path | None = None
    bearer_token_env: str | None = None
    # Paths served without the token: liveness and readiness probes (kubelet cannot send one).
    open_paths: list[str] = Field(default_factory=lambda: ["/healthz", "/livez", "/readyz"])
    # A connection must deliver a whole request (headers and body) within this; a
    # keep-alive connection waiting for its next request is closed after idle_timeout.
    read_timeout_seconds: float = Field(10.0, gt=0)
    idle_timeout_seconds: float = Field(30.0, gt=0)
    # Open sockets at most; when full, the oldest connection that has not sent a whole
    # request is closed to make room, so idle or half-sent requests cannot hold the listener.
    max_connections: int = Field(64, ge=1)
    # Requests per second (and burst) per client address and, when a token is set, per token.
    requests_per_second: float = Field(50.0, gt=0)
    burst: int = Field(100, ge=1)
    # TLS on the listener itself; a token on a listener that is not loopback without TLS
    # is sent in the clear, and the process warns at start.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    @model_validator(mode="after")
    def _one_token_source(self) -> EndpointSecurity:
        if self.bearer_token_file and self.bearer_token_env:
            raise ValueError("set bearer_token_file or bearer_token_env, not both")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("TLS needs both tls_certfile and tls_keyfile")
        return self
