"""Wiring of profiling into the agent: the session manager and the command listener.

The switch is ``performance.profiling_enabled`` (off by default); the agent listens either
way, so that a command to a host where profiling is off is refused with that reason rather
than left unanswered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agents.profiling.listener import CommandListener
from agents.profiling.sessions import SessionManager
from agents.publish.publisher import OutRecord
from agents.redact import MASK, Redactor
from schemas.codec import encode

if TYPE_CHECKING:
    import msgspec

    from agents.selfmetrics import AgentMetrics
    from schemas.config import TokaConfig

__all__ = ["build_profiling", "text_cleaner"]


def text_cleaner(redactor: Redactor | None) -> Callable[[str], str]:
    """Command lines, file paths and stack frames through the agent's redaction rules."""
    if redactor is None:
        return lambda text: text

    def clean(text: str) -> str:
        value = redactor.value("cmdline", text)
        return value if isinstance(value, str) else MASK

    return clean


def build_profiling(
    cfg: TokaConfig,
    submit: Callable[[OutRecord], None],
    metrics: AgentMetrics,
    redactor: Redactor | None,
) -> tuple[SessionManager, CommandListener]:
    host = cfg.agent.host
    topic, key = cfg.kafka.topic("profiles"), host.encode()

    def emit(record: msgspec.Struct) -> None:
        submit(OutRecord(topic=topic, key=key, value=encode(record)))

    manager = SessionManager(
        host, cfg.agent.profiling, enabled=cfg.performance.profiling_enabled, emit=emit,
        clean=text_cleaner(redactor), max_record_bytes=cfg.agent.publisher.max_record_bytes,
        on_outcome=lambda outcome: metrics.profiling_commands.labels(outcome.outcome).inc(),
    )  # fmt: skip
    listener = CommandListener(
        cfg.kafka.client_options(), cfg.kafka.topic("profile-commands"), host, manager.handle,
        on_undecodable=lambda: metrics.profiling_commands.labels("undecodable").inc(),
    )  # fmt: skip
    return manager, listener
