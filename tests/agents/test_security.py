"""Kafka client security from config: TLS for real (socat terminating TLS in front of the
embedded broker, which advertises the TLS port), SASL settings and a clear refusal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agents.errors import KafkaUnavailableError
from agents.publish.kafka import KafkaSink, producer_options
from agents.publish.publisher import OutRecord
from pipeline.broker import EmbeddedBroker
from pipeline.cli.main import main
from schemas.config import TokaConfig
from tests.agents._support import agent_config_file, read_topic_sync
from tests.support.tls import make_cert, tls_broker_at

pytestmark = pytest.mark.integration


_cert = make_cert


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(bootstrap of the TLS port, CA file): Tansu plain on one port, socat TLS on another."""
    with tls_broker_at(tmp_path) as where:
        yield where


def _with_security(path: Path, security: dict[str, object]) -> Path:
    doc = yaml.safe_load(path.read_text())
    doc["kafka"]["security"] = security
    path.write_text(yaml.safe_dump(doc))
    return path


def test_agent_publishes_over_tls(tls_broker: tuple[str, Path], topic_prefix: str, tmp_path: Path):
    bootstrap, ca = tls_broker
    cfg = _with_security(
        agent_config_file(
            tmp_path, bootstrap, topic_prefix, sources={"system": {"top_processes": 0}}
        ),
        {"protocol": "SSL", "ssl_cafile": str(ca)},
    )
    assert main(["-c", str(cfg), "agent", "--once"]) == 0
    ssl_opts = TokaConfig(
        kafka={
            "bootstrap_servers": bootstrap,
            "security": {"protocol": "SSL", "ssl_cafile": str(ca)},
        }
    ).kafka.client_options()
    [(key, batch)] = read_topic_sync(bootstrap, f"{topic_prefix}metrics", options=ssl_opts)
    assert key == b"test-host" and batch.source == "system"


async def test_tls_with_an_untrusted_ca_fails_clearly(tls_broker: tuple[str, Path], tmp_path: Path):
    bootstrap, _ = tls_broker
    other_ca, _ = _cert(tmp_path, "other")
    cfg = TokaConfig(
        kafka={"bootstrap_servers": bootstrap,
               "security": {"protocol": "SSL", "ssl_cafile": str(other_ca)}}
    )  # fmt: skip
    sink = KafkaSink(producer_options(cfg.kafka.client_options()), timeout_s=5)
    with pytest.raises(KafkaUnavailableError, match=r"\(SSL\).*CA file"):
        await sink.send([OutRecord("t", b"k", b"v")])
    await sink.close()


async def test_sasl_settings_reach_the_broker_and_refusal_is_clear(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
):
    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap,
               "security": {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                            "sasl_username": "agent", "sasl_password": "s3cret"}}
    )  # fmt: skip
    opts = producer_options(cfg.kafka.client_options())
    assert (opts["security_protocol"], opts["sasl_mechanism"], opts["sasl_plain_username"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
        "agent",
    )
    assert opts["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(cfg)  # masked when printed
    sink = KafkaSink(opts, timeout_s=5)
    with (
        caplog.at_level(logging.ERROR, logger="aiokafka"),
        pytest.raises(KafkaUnavailableError) as err,
    ):
        await sink.send([OutRecord("t", b"k", b"v")])
    await sink.close()
    msg = str(err.value)
    assert "SASL_PLAINTEXT, SCRAM-SHA-512 as 'agent'" in msg and "SASL mechanism" in msg
    assert "s3cret" not in msg
    # The embedded broker received the handshake for our mechanism and refused it.
    assert "UnsupportedSaslMechanism" in caplog.text
