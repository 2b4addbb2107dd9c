"""The host agent's settings."""

from __future__ import annotations

import socket

from pydantic import Field

from schemas.config.base import Block

__all__ = ["AgentConfig"]


class SystemSourceConfig(Block):
    enabled: bool = True
    interval_seconds: float = Field(10.0, gt=0)


class AgentSources(Block):
    system: SystemSourceConfig = SystemSourceConfig()


class AgentConfig(Block):
    host: str = Field(default_factory=socket.gethostname, min_length=1)
    interval_seconds: float = Field(10.0, gt=0)
    sources: AgentSources = AgentSources()
