"""The one configuration object: a YAML file, then ``TOKA_...`` environment overrides.

Every key has a default, so no file is needed. Unknown keys are errors (a typo must fail
loudly). Nested keys in the environment are joined with ``__``:
``TOKA_MONITORING__THRESHOLDS__CPU_CRITICAL_PERCENT=50``.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from schemas.config.agent import AgentConfig
from schemas.config.aliases import resolve_aliases
from schemas.config.analytics import AnalyticsConfig
from schemas.config.environment import environment_overrides, merge
from schemas.config.kafka import BrokerConfig, KafkaConfig
from schemas.config.pipeline import PipelineConfig
from schemas.config.remote_write import RemoteWriteConfig
from schemas.config.seed import DashboardConfig, MonitoringConfig, PerformanceConfig
from schemas.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_FILE", "TokaConfig", "load_config"]

DEFAULT_CONFIG_FILE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "toka.yaml"


class TokaConfig(BaseModel):
    """The whole configuration, validated once at start-up (``load_config`` adds the
    environment; constructing one directly reads only what it is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka: KafkaConfig = KafkaConfig()
    broker: BrokerConfig = BrokerConfig()
    agent: AgentConfig = AgentConfig()
    pipeline: PipelineConfig = PipelineConfig()
    performance: PerformanceConfig = PerformanceConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    dashboard: DashboardConfig = DashboardConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    remote_write: RemoteWriteConfig = RemoteWriteConfig()

    @model_validator(mode="before")
    @classmethod
    def _resolve_aliases(cls, data: Any) -> Any:
        # Aliases are copied to their canonical key before the blocks validate, so the
        # canonical block sees the value as set (agent.interval_seconds' fields-set matters).
        if isinstance(data, dict):
            data = copy.deepcopy(data)
            if problems := resolve_aliases(data):
                raise ValueError("\n".join(problems))
        return data

    @model_validator(mode="after")
    def _analytics_window_is_a_pipeline_window(self) -> TokaConfig:
        size, sizes = self.analytics.window_seconds, self.pipeline.window_seconds
        if size is not None and size not in sizes:
            raise ValueError(
                f"analytics.window_seconds: must be one of pipeline.window_seconds {sizes} "
                f"(got {size})"
            )
        return self

    def analytics_window_seconds(self) -> float:
        """The window size the analytics stages read."""
        return self.analytics.window_seconds or max(self.pipeline.window_seconds)


def load_config(path: str | Path | None = None) -> TokaConfig:
    """Read ``path`` (or nothing: all defaults), apply ``TOKA_...`` overrides, validate.

    Raises ConfigError listing every problem with its key path.
    """
    source = str(path) if path else "defaults"
    data: Any = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(source, [("(file)", f"cannot read: {exc.strerror}")]) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(source, [("(file)", f"not valid YAML: {exc}")]) from None
        if not isinstance(data, dict):
            raise ConfigError(source, [("(root)", "expected a mapping of sections")])
    # Environment first: it overrides what the file says.
    data = merge(data, environment_overrides(TokaConfig, os.environ))
    try:
        return TokaConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [line for e in exc.errors() for line in _format(e)]) from None


_ACROSS_BLOCKS = re.compile(r"^(?P<path>[a-z_]+(?:\.[a-z_]+)+): (?P<msg>.*)$", re.S)


def _format(error: Any) -> list[tuple[str, str]]:
    path = ".".join(str(p) for p in error["loc"]) or "(root)"
    msg = error["msg"]
    if not error["loc"] and msg.startswith("Value error, "):
        # A check across blocks names its keys itself, one problem per line.
        lines = [
            _ACROSS_BLOCKS.match(line) for line in msg.removeprefix("Value error, ").split("\n")
        ]
        if all(lines):
            return [(m["path"], m["msg"]) for m in lines if m]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
    elif (
        "input" in error
        and not isinstance(error["input"], dict | list)
        and not _SECRET_KEY.search(path)
        and "credentials in a URL" not in msg
    ):  # a secret's value (or a URL holding one) is never echoed back
        msg = f"{msg} (got {error['input']!r})"
    return [(path, msg)]


_SECRET_KEY = re.compile(r"(?i)passw|token|secret|salt|credential")
