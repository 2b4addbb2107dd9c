"""The stream processors' settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from schemas.config.base import Block

__all__ = ["PipelineConfig"]


class PipelineConfig(Block):
    app_id: str = "toka-pipeline"
    window_seconds: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [10.0], min_length=1
    )
    grace_seconds: float = Field(5.0, ge=0)
    idle_close_seconds: float = Field(15.0, gt=0)
    rules_file: Path | None = None
    partitions: int = Field(4, ge=1)
    web_port: int = Field(6066, ge=1, le=65535)
    data_dir: Path = Path(".toka/worker")
    # How long the group waits for a silent worker before giving its partitions away.
    session_timeout_seconds: float = Field(30.0, ge=3)
