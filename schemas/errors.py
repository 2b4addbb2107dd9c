"""The root error of the project and the codec's error."""

from __future__ import annotations

__all__ = ["ConfigError", "DecodeError", "NonFiniteError", "TokaError"]


class TokaError(Exception):
    """Root of every error the project raises on purpose."""


class DecodeError(TokaError):
    """A record that cannot be decoded.

    ``reason`` is one of: ``not_json``, ``unknown_schema``, ``missing_field``,
    ``wrong_type``, ``invalid``. ``path`` is a JSON path such as ``$.samples[3].value``.
    """

    def __init__(self, reason: str, detail: str, path: str = "$") -> None:
        self.reason = reason
        self.detail = detail
        self.path = path
        super().__init__(f"{reason} at {path}: {detail}")


class ConfigError(TokaError):
    """A configuration file or value that is not valid; ``errors`` lists (key path, message)."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path}: {msg}" for path, msg in errors)
        super().__init__(f"invalid configuration ({source}):\n{lines}")


class NonFiniteError(TokaError):
    """A record with a NaN where its schema requires a number (schemas/finite.py)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"not a number at {path}: the value has no JSON form")
