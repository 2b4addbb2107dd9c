"""ensure_topics creates every topic a stage reads, with the configured partitions; the
analytics stages read aggregate batches."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from pipeline.anomalies import stage as anomalies_stage
from pipeline.broker import EmbeddedBroker
from pipeline.capacity import stage as capacity_stage
from pipeline.regressions import stage as regressions_stage
from pipeline.topics import INTERNAL_TOPIC_KINDS, TOPIC_KINDS, ensure_topics
from schemas.config import TokaConfig

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
