"""What a component accepts from a command topic: its own local word on remote commands."""

from __future__ import annotations

from pydantic import Field

from schemas.config.base import Block

__all__ = ["CommandTrust"]


class CommandTrust(Block):
    """Checked by ``agents.commands.CommandGate`` on every command before it is obeyed.

    Kafka ACLs decide who may write a command topic; this decides what this component does
    with what arrives there, whoever wrote it.
    """

    enabled: bool = True
    # Actions obeyed (empty: every action the component knows).
    actions: list[str] = Field(default_factory=list)
    # Subjects obeyed, as fnmatch patterns (empty: any subject).
    subjects: list[str] = Field(default_factory=list)
    # Commands older than this (by their ts) are refused: an old command replayed from the
    # topic's start does not act again. 0: no limit.
    max_age_seconds: float = Field(3600.0, ge=0)
    # Commands obeyed per minute at most; the rest are refused and counted.
    max_per_minute: int = Field(60, ge=1)
