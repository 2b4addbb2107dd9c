"""How the worker creates topics: replication, min.insync.replicas and retention per kind.

Unset values leave the choice to the broker: replication factor ``-1`` asks for its
``default.replication.factor`` (KIP-464), ``None`` for the others for its own defaults
(``min.insync.replicas``, ``log.retention.hours``). The settings apply when a topic is
created; an existing topic keeps its own.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from schemas.config.base import Block

__all__ = ["ChangelogSettings", "TopicSettings", "TopicsConfig"]


class ChangelogSettings(Block):
    """A compacted topic: it keeps the last value of every key, so it has no time retention
    (one would forget an alert firing for longer than it, or a baseline learned before it)."""

    # -1: the broker's default.replication.factor; else the number of copies of each partition
    replication_factor: int = -1
    # Replicas that must have a write before it counts (with acks=all); None: the broker's
    min_insync_replicas: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> ChangelogSettings:
        rf = self.replication_factor
        if rf == 0 or rf < -1:
            raise ValueError(f"replication_factor: -1 (the broker's default) or >= 1, got {rf}")
        mir = self.min_insync_replicas
        if mir is not None and rf > 0 and mir > rf:
            raise ValueError(
                f"min_insync_replicas ({mir}) above replication_factor ({rf}): "
                "no write could ever succeed"
            )
        return self

    def topic_configs(self) -> dict[str, str]:
        """Kafka topic configs to create the topic with (what is left unset is omitted)."""
        out: dict[str, str] = {}
        if self.min_insync_replicas is not None:
            out["min.insync.replicas"] = str(self.min_insync_replicas)
        return out


class TopicSettings(ChangelogSettings):
    # How long records are kept, in hours; -1: forever; None: the broker's log.retention.hours
    retention_hours: float | None = None

    @model_validator(mode="after")
    def _retention(self) -> TopicSettings:
        hours = self.retention_hours
        if hours is not None and hours != -1 and hours <= 0:
            raise ValueError(f"retention_hours: -1 (forever), null or > 0, got {hours}")
        return self

    def topic_configs(self) -> dict[str, str]:
        out = super().topic_configs()
        if self.retention_hours is not None:
            hours = self.retention_hours
            out["retention.ms"] = "-1" if hours == -1 else str(round(hours * 3_600_000))
        return out


class TopicsConfig(Block):
    """Settings per kind of topic (which topic is which kind: pipeline/topics.py)."""

    inputs: TopicSettings = TopicSettings()
    outputs: TopicSettings = TopicSettings()
    changelogs: ChangelogSettings = ChangelogSettings()
    deadletter: TopicSettings = TopicSettings()

    def for_kind(self, kind: str) -> ChangelogSettings:
        settings: ChangelogSettings = getattr(self, kind)
        return settings
