"""Errors of the alerting engine."""

from __future__ import annotations

from schemas.errors import ConfigError

__all__ = ["RuleFileError"]


class RuleFileError(ConfigError):
    """A rule file that cannot be used. ``errors`` lists (``rule NAME: key``, expectation).

    A ConfigError, so start-up and the CLI report it the same way as a bad config file.
    """

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        super().__init__(source, errors)
        lines = "\n".join(f"  {path}: {msg}" for path, msg in errors)
        self.args = (f"invalid rule file ({source}):\n{lines}",)

    def __str__(self) -> str:
        return str(self.args[0])
