"""Errors of profiling sessions."""

from __future__ import annotations

from agents.errors import AgentError

__all__ = ["SessionError"]


class SessionError(AgentError):
    """A session that could not run or finish; the message goes into its ``failed`` status."""
