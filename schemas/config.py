"""The one configuration object: a YAML file, then ``TOKA_...`` environment overrides.

Every key has a default, so no file is needed. Unknown keys are errors (a typo must fail
loudly). Nested keys in the environment are joined with ``__``:
``TOKA_MONITORING__THRESHOLDS__CPU_CRITICAL_PERCENT=50``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from schemas.errors import ConfigError

__all__ = ["TokaConfig", "load_config", "DEFAULT_CONFIG_FILE"]

DEFAULT_CONFIG_FILE = Path(__file__).resolve().parent.parent / "deploy" / "config" / "toka.yaml"


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSecurity(_Block):
    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSecurity:
        if self.protocol.startswith("SASL") and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError("SASL protocols need sasl_mechanism and sasl_username")
        return self


class KafkaConfig(_Block):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "toka."
    security: KafkaSecurity = KafkaSecurity()

    def topic(self, kind: str) -> str:
        """Full topic name of a kind: ``metrics`` -> ``toka.metrics``."""
        return f"{self.topic_prefix}{kind}"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka producers, consumers and admin clients."""
        sec = self.security
        opts: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": sec.protocol,
        }
        if sec.protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            ctx = create_ssl_context(
                cafile=str(sec.ssl_cafile) if sec.ssl_cafile else None,
                certfile=str(sec.ssl_certfile) if sec.ssl_certfile else None,
                keyfile=str(sec.ssl_keyfile) if sec.ssl_keyfile else None,
            )
            ctx.check_hostname = sec.ssl_check_hostname
            opts["ssl_context"] = ctx
        if sec.protocol.startswith("SASL"):
            opts["sasl_mechanism"] = sec.sasl_mechanism
            opts["sasl_plain_username"] = sec.sasl_username
            opts["sasl_plain_password"] = (
                sec.sasl_password.get_secret_value() if sec.sasl_password else None
            )
        return opts


class BrokerConfig(_Block):
    """The embedded Tansu broker started by ``toka broker`` and ``toka up``."""

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)


class SystemSourceConfig(_Block):
    enabled: bool = True
    interval_seconds: float = Field(10.0, gt=0)


class AgentSources(_Block):
    system: SystemSourceConfig = SystemSourceConfig()


class AgentConfig(_Block):
    host: str = Field(default_factory=socket.gethostname, min_length=1)
    interval_seconds: float = Field(10.0, gt=0)
    sources: AgentSources = AgentSources()


class PipelineConfig(_Block):
    app_id: str = "toka-pipeline"
    window_seconds: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [10.0], min_length=1
    )
    grace_seconds: float = Field(5.0, ge=0)
    idle_close_seconds: float = Field(15.0, gt=0)
    rules_file: Path | None = None
    partitions: int = Field(4, ge=1)
    web_port: int = Field(6066, ge=1, le=65535)


class PerformanceConfig(_Block):
    metrics_enabled: bool = True
    tracing_enabled: bool = True
    monitoring_enabled: bool = True
    profiling_enabled: bool = False
    benchmarking_enabled: bool = True
    regression_detection_enabled: bool = True
    anomaly_detection_enabled: bool = True
    capacity_planning_enabled: bool = True
    metrics_interval_seconds: float = Field(10.0, gt=0)
    tracing_sample_rate: float = Field(1.0, ge=0, le=1)


class Thresholds(_Block):
    cpu_warning_percent: float = Field(70.0, ge=0, le=100)
    cpu_critical_percent: float = Field(85.0, ge=0, le=100)
    memory_warning_percent: float = Field(75.0, ge=0, le=100)
    memory_critical_percent: float = Field(90.0, ge=0, le=100)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Thresholds:
        for res in ("cpu", "memory"):
            if getattr(self, f"{res}_warning_percent") >= getattr(self, f"{res}_critical_percent"):
                raise ValueError(f"{res}_warning_percent must be below {res}_critical_percent")
        return self


class MonitoringConfig(_Block):
    interval_seconds: float = Field(10.0, gt=0)
    thresholds: Thresholds = Thresholds()
    history_retention_minutes: int = Field(60, ge=1)


class DashboardConfig(_Block):
    enabled: bool = True
    refresh_interval_seconds: float = Field(5.0, gt=0)
    max_data_points: int = Field(360, ge=1)
    theme: Literal["dark", "light"] = "dark"
    widgets: list[str] = Field(
        default_factory=lambda: ["cpu", "memory", "disk", "network", "alerts"]
    )


class TokaConfig(BaseSettings):
    """The whole configuration, validated once at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="TOKA_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    kafka: KafkaConfig = KafkaConfig()
    broker: BrokerConfig = BrokerConfig()
    agent: AgentConfig = AgentConfig()
    pipeline: PipelineConfig = PipelineConfig()
    performance: PerformanceConfig = PerformanceConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    dashboard: DashboardConfig = DashboardConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides what the file says.
        return (env_settings, init_settings)


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
    try:
        return TokaConfig(**data)
    except ValidationError as exc:
        raise ConfigError(source, [_format(e) for e in exc.errors()]) from None


def _format(error: Any) -> tuple[str, str]:
    path = ".".join(str(p) for p in error["loc"]) or "(root)"
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in error and not isinstance(error["input"], dict | list):
        msg = f"{msg} (got {error['input']!r})"
    return path, msg
