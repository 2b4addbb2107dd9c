"""Create the pipeline's topics with the configured partition count.

Creating them up front matters: a producer that writes first would otherwise get a topic
auto-created with the broker's default partition count, and Faust tables must have as many
partitions as the topic feeding them.
"""

from __future__ import annotations

from schemas.config import TokaConfig

__all__ = ["INTERNAL_TOPIC_KINDS", "TOPIC_KINDS", "ensure_topics"]

TOPIC_KINDS = (
    "metrics", "spans", "benchmarks", "aggregates", "alerts",
    "regressions", "anomalies", "capacity", "deadletter", "audit",
)  # fmt: skip

#: Internal topics. ``aggregate-batches``: each close of the windows and spans stages as
#: one AggregateBatch, on the partition number of its input, which is what the analytics
#: stages read (no re-keying hop: one host's or service's series always arrive together).
#: The rest belong to analytics stages (their TOPIC_KINDS).
INTERNAL_TOPIC_KINDS = ("aggregate-batches", "baseline-commands")


async def ensure_topics(cfg: TokaConfig, replication_factor: int = 1) -> list[str]:
    """Create every missing topic; returns the names it created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**cfg.kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        # Not the Collector's otlp_spans topic: its producers own it (and its partitions).
        names = [cfg.kafka.topic(k) for k in TOPIC_KINDS + INTERNAL_TOPIC_KINDS]
        missing = [name for name in names if name not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, cfg.pipeline.partitions, replication_factor) for t in missing]
            )
        return missing
    finally:
        await admin.close()
