"""The agent's errors, all under the project's root TokaError."""

from __future__ import annotations

from schemas.errors import TokaError

__all__ = ["AgentError", "DuplicateSourceError", "KafkaUnavailableError", "RecordRejectedError"]


class AgentError(TokaError):
    """Root of the agent's own errors."""


class DuplicateSourceError(AgentError):
    """Two sources registered under one name (their batches would be indistinguishable)."""


class KafkaUnavailableError(AgentError):
    """The broker refused or did not answer; the message says which address and why.

    ``acked`` counts the records of the failed send that Kafka had acknowledged, in order.
    """

    def __init__(self, message: str, acked: int = 0) -> None:
        super().__init__(message)
        self.acked = acked


class RecordRejectedError(AgentError):
    """Kafka refused one record for good (e.g. too large): records ``[:acked]`` were sent,
    record ``[acked]`` must be dropped, the rest sent again."""

    def __init__(self, message: str, acked: int) -> None:
        super().__init__(message)
        self.acked = acked
