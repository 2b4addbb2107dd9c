"""Create the pipeline's topics with the configured partition count and topic settings.

Creating them up front matters: a producer that writes first would otherwise get a topic
auto-created with the broker's default partition count, and Faust tables must have as many
partitions as the topic feeding them.

Each topic is of one kind, whose settings (``pipeline.topics``: replication factor,
``min.insync.replicas``, retention) it is created with: ``inputs``, what stages consume
and must be able to replay after a crash; ``outputs``, what the pipeline writes for
others; ``deadletter``; and ``changelogs``, the Faust tables' compacted changelogs, which
Faust creates itself (``apply_changelog_settings`` gives them their settings).
"""

from __future__ import annotations

from typing import Any

from schemas.config import TokaConfig
from schemas.errors import TokaError

__all__ = [
    "INTERNAL_TOPIC_KINDS",
    "TOPIC_CLASSES",
    "TOPIC_KINDS",
    "TopicError",
    "apply_changelog_settings",
    "ensure_topics",
]

TOPIC_KINDS = (
    "metrics", "spans", "benchmarks", "aggregates", "alerts",
    "regressions", "anomalies", "capacity", "deadletter", "audit",
    "profiles", "profile-commands",
)  # fmt: skip

#: Internal topics. ``aggregate-batches``: each close of the windows and spans stages as
#: one AggregateBatch, on the partition number of its input, which is what the analytics
#: stages read (no re-keying hop: one host's or service's series always arrive together).
#: The rest belong to analytics stages (their TOPIC_KINDS).
INTERNAL_TOPIC_KINDS = ("aggregate-batches", "baseline-commands")

#: Topic kind -> the ``pipeline.topics`` block it is created with.
TOPIC_CLASSES = {
    "metrics": "inputs", "spans": "inputs", "benchmarks": "inputs",
    "aggregate-batches": "inputs", "baseline-commands": "inputs",
    "aggregates": "outputs", "alerts": "outputs", "regressions": "outputs",
    "anomalies": "outputs", "capacity": "outputs", "audit": "outputs",
    "deadletter": "deadletter",
    "profiles": "outputs", "profile-commands": "inputs",
}  # fmt: skip

#: Kafka's TOPIC_ALREADY_EXISTS: another worker created it first, which is fine.
_TOPIC_EXISTS = 36


class TopicError(TokaError):
    """The broker refused to create a topic (its error code and message say why)."""


async def ensure_topics(cfg: TokaConfig) -> list[str]:
    """Create every missing topic; returns the names it created. Raises TopicError with
    the broker's reason when it refuses one (e.g. more replicas than brokers)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**cfg.kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        # Not the Collector's otlp_spans topic: its producers own it (and its partitions).
        every = TOPIC_KINDS + INTERNAL_TOPIC_KINDS
        kinds = [kind for kind in every if cfg.kafka.topic(kind) not in existing]
        if not kinds:
            return []
        new = []
        for kind in kinds:
            settings = cfg.pipeline.topics.for_kind(TOPIC_CLASSES[kind])
            rf = settings.replication_factor
            new.append(
                NewTopic(
                    cfg.kafka.topic(kind), cfg.pipeline.partitions, rf,
                    # aiokafka's NewTopic wants an (empty) assignment with -1 (KIP-464's
                    # "the broker's default"); the request then carries -1 and no assignment.
                    replica_assignments={} if rf == -1 else None,
                    topic_configs=settings.topic_configs(),
                )
            )  # fmt: skip
        response = await admin.create_topics(new)
        _raise_refusals(response)
        return [topic.name for topic in new]
    finally:
        await admin.close()


def _raise_refusals(response: Any) -> None:
    refused = []
    for name, code, *rest in response.topic_errors:  # (topic, error code, message: v1+)
        if code not in (0, _TOPIC_EXISTS):
            message = rest[0] if rest and rest[0] else "no message"
            refused.append(f"{name}: error {code} ({message})")
    if refused:
        raise TopicError("the broker refused to create " + "; ".join(refused))


def apply_changelog_settings(app: Any, cfg: TokaConfig) -> None:
    """Give the changelog topic of every table on ``app`` ``pipeline.topics.changelogs``:
    Faust creates them with its own ``topic_replication_factor`` (which cannot say -1)."""
    settings = cfg.pipeline.topics.changelogs
    for table in app.tables.values():
        topic = table.changelog_topic
        topic.replicas = settings.replication_factor
        topic.config = {**(topic.config or {}), **settings.topic_configs()}
