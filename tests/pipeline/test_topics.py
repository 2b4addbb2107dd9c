"""ensure_topics creates every topic a stage reads, with the configured partitions; the
analytics stages read aggregate batches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from pipeline.anomalies import stage as anomalies_stage
from pipeline.broker import EmbeddedBroker
from pipeline.capacity import stage as capacity_stage
from pipeline.regressions import stage as regressions_stage
from pipeline.topics import (
    INTERNAL_TOPIC_KINDS,
    TOPIC_CLASSES,
    TOPIC_KINDS,
    TopicError,
    ensure_topics,
)
from schemas.config import TokaConfig, load_config
from schemas.errors import ConfigError

ANALYTICS = ("regressions", "anomalies", "capacity")


def test_internal_topics_cover_every_stage() -> None:
    declared = {"aggregate-batches", *anomalies_stage.TOPIC_KINDS, *capacity_stage.TOPIC_KINDS,
                *regressions_stage.TOPIC_KINDS}  # fmt: skip
    assert declared == set(INTERNAL_TOPIC_KINDS)


async def test_ensure_topics_creates_all_once(broker: EmbeddedBroker, topic_prefix: str) -> None:
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix},
                     pipeline={"partitions": 3})  # fmt: skip
    created = await ensure_topics(cfg)
    kinds = TOPIC_KINDS + INTERNAL_TOPIC_KINDS
    assert sorted(created) == sorted(cfg.kafka.topic(k) for k in kinds)
    assert await ensure_topics(cfg) == []
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        for name in created:
            assert consumer.partitions_for_topic(name) == {0, 1, 2}, name
    finally:
        await consumer.stop()


def test_analytics_stages_read_batches_not_per_series_aggregates() -> None:
    """One Faust record per window close: no analytics agent reads ``toka.aggregates``
    (one record per series), and none needs a re-keying topic."""
    from pipeline.app import create_app

    cfg = TokaConfig()
    app = create_app(cfg, stages=[f"pipeline.{s}.stage" for s in ANALYTICS])
    reads = {a.name: set(a.channel.topics) for a in app.agents.values()}
    batches, aggregates = cfg.kafka.topic("aggregate-batches"), cfg.kafka.topic("aggregates")
    assert set(reads) == {f"toka-{s}" for s in ANALYTICS}
    for topics in reads.values():
        assert batches in topics and aggregates not in topics
    assert reads["toka-regressions"] == {
        batches,
        cfg.kafka.topic("benchmarks"),
        cfg.kafka.topic("baseline-commands"),
    }


async def _topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        out = {}
        for response in await admin.describe_configs(resources):
            for _code, _message, _type, name, entries in response.resources:
                out[name] = {entry[0]: entry[1] for entry in entries}
        return out
    finally:
        await admin.close()


async def test_the_broker_default_replication_factor_is_accepted(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    # The default asks for the broker's default.replication.factor (-1, KIP-464); the
    # embedded Tansu broker takes it.
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix})
    assert cfg.pipeline.topics.inputs.replication_factor == -1
    assert cfg.pipeline.topics.changelogs.replication_factor == -1
    created = await ensure_topics(cfg)
    assert len(created) == len(TOPIC_KINDS + INTERNAL_TOPIC_KINDS)
    configs = await _topic_configs(broker.bootstrap, created)
    assert all(c == {} for c in configs.values())  # nothing set: the broker's defaults


async def test_topics_get_the_settings_of_their_kind(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    settings = {
        "inputs": {"replication_factor": 1, "min_insync_replicas": 1, "retention_hours": 24},
        "outputs": {"retention_hours": 168},
        "deadletter": {"retention_hours": -1},
    }
    cfg = TokaConfig(kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix},
                     pipeline={"topics": settings})  # fmt: skip
    created = await ensure_topics(cfg)
    got = await _topic_configs(broker.bootstrap, created)
    t = cfg.kafka.topic
    assert got[t("metrics")] == {"min.insync.replicas": "1", "retention.ms": "86400000"}
    assert got[t("aggregate-batches")] == got[t("metrics")]  # replayed like an input
    assert got[t("alerts")] == {"retention.ms": "604800000"}
    assert got[t("deadletter")] == {"retention.ms": "-1"}  # kept forever
    assert set(TOPIC_CLASSES) == set(TOPIC_KINDS + INTERNAL_TOPIC_KINDS)


async def test_faust_creates_table_changelogs_with_the_changelog_settings(
    broker: EmbeddedBroker, topic_prefix: str
) -> None:
    from pipeline.app import create_app

    cfg = TokaConfig(
        kafka={"bootstrap_servers": broker.bootstrap, "topic_prefix": topic_prefix},
        pipeline={"app_id": f"{topic_prefix}app", "alertmanager_urls": ["http://127.0.0.1:1"],
                  "topics": {"changelogs": {"min_insync_replicas": 1}}},
    )  # fmt: skip
    app = create_app(cfg, stages=["pipeline.sinks.stage"])
    table = app.tables["toka-alertmanager-active"]
    assert table.changelog_topic.replicas == -1
    await app.producer.start()
    try:
        await table.changelog_topic.maybe_declare()  # what the table does when it starts
    finally:
        await app.producer.stop()
    name = table.changelog_topic.get_topic_name()
    got = (await _topic_configs(broker.bootstrap, [name]))[name]
    assert got == {"cleanup.policy": "compact", "min.insync.replicas": "1"}


def test_a_refusal_names_the_topic_and_the_reason() -> None:
    from types import SimpleNamespace

    from pipeline.topics import _raise_refusals

    _raise_refusals(SimpleNamespace(topic_errors=[("a", 0, None), ("b", 36, "exists")]))
    with pytest.raises(TopicError, match=r"toka.metrics: error 38 \(Replication factor: 3"):
        _raise_refusals(SimpleNamespace(topic_errors=[
            ("toka.metrics", 38, "Replication factor: 3 larger than available brokers: 1"),
        ]))  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"inputs": {"replication_factor": 0}}, "-1 (the broker's default) or >= 1"),
        ({"changelogs": {"replication_factor": 2, "min_insync_replicas": 3}}, "no write"),
        ({"outputs": {"retention_hours": 0}}, "-1 (forever), null or > 0"),
        ({"changelogs": {"retention_hours": 24}}, "unknown key"),  # compacted: no retention
    ],
)
def test_impossible_topic_settings_fail_at_start_up(
    settings: dict, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "toka.yaml"
    path.write_text(yaml.safe_dump({"pipeline": {"topics": settings}}))
    with pytest.raises(ConfigError, match=re.escape(message)) as exc:
        load_config(path)
    assert "pipeline.topics." in str(exc.value)
