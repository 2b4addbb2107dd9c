"""Kafka client settings, shared by the agent and the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from schemas.config.base import Block

__all__ = ["BrokerConfig", "KafkaConfig", "KafkaSecurity"]


class KafkaSecurity(Block):
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


class KafkaConfig(Block):
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


class BrokerConfig(Block):
    """The embedded Tansu broker started by ``toka broker`` and ``toka up``."""

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
