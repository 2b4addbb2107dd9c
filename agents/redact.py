"""Redaction before anything leaves the host: drop, hash or mask label and attribute values.

A rule matches a key pattern, a value pattern, or both. With a key pattern alone the whole
value is treated; with a value pattern the matching parts of the value are (so an email
inside a URL is masked and the rest of the URL kept), except ``drop``, which removes the key.
Named patterns (``@email``, ``@ipv4``, ``@ipv6``, ``@bearer``, ``@jwt``) save writing regexes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from schemas.records import Sample, Span

if TYPE_CHECKING:
    from schemas.config.agent import RedactionConfig

__all__ = ["DEFAULT_RULES", "MASK", "Redactor", "Rule"]

MASK = "***"

NAMED_PATTERNS = {
    "@email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "@ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "@ipv6": r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b",
    "@bearer": r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+",
    "@jwt": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
}

Action = Literal["drop", "hash", "mask"]


@dataclass(frozen=True, slots=True)
class Rule:
    key: re.Pattern[str] | None
    value: re.Pattern[str] | None
    action: Action

    @classmethod
    def of(cls, key: str | None = None, value: str | None = None, action: Action = "mask") -> Rule:
        def comp(p: str | None) -> re.Pattern[str] | None:
            return re.compile(NAMED_PATTERNS.get(p, p)) if p else None

        return cls(comp(key), comp(value), action)


_SECRET_KEYS = (
    r"(?i)(authorization|passw(or)?d|secret|token|cookie|api[-_.]?key|credential|session[-_.]?id)"
)
DEFAULT_RULES = (Rule.of(key=_SECRET_KEYS), Rule.of(value="@bearer"), Rule.of(value="@jwt"))

_DROP = object()


class Redactor:
    """Applies rules to label dicts and span attributes. Unchanged inputs are returned as
    they are, so the common case costs a dictionary lookup per key and no allocation."""

    def __init__(self, rules: tuple[Rule, ...] | list[Rule], salt: str = "") -> None:
        self._key_rules = [r for r in rules if r.value is None]
        self._value_rules = [r for r in rules if r.value is not None]
        self._salt = salt.encode()
        self._key_cache: dict[str, Action | None] = {}

    @classmethod
    def from_config(cls, cfg: RedactionConfig) -> Redactor | None:
        if not cfg.enabled:
            return None
        rules = list(DEFAULT_RULES) if cfg.default_rules else []
        rules += [Rule.of(r.key, r.value, r.action) for r in cfg.rules]
        return cls(rules, cfg.hash_salt) if rules else None

    def _hash(self, text: str) -> str:
        return "sha256:" + hashlib.sha256(self._salt + text.encode()).hexdigest()[:16]

    def _key_action(self, key: str) -> Action | None:
        try:
            return self._key_cache[key]
        except KeyError:
            act = next((r.action for r in self._key_rules if r.key and r.key.search(key)), None)
            if len(self._key_cache) < 10_000:  # bounded: keys can come from outside
                self._key_cache[key] = act
            return act

    def value(self, key: str, value: Any) -> Any:
        """The redacted value, or ``_DROP``."""
        act = self._key_action(key)
        if act is not None:
            return _DROP if act == "drop" else (MASK if act == "mask" else self._hash(str(value)))
        if not isinstance(value, str):
            return value
        for r in self._value_rules:
            if r.key is not None and not r.key.search(key):
                continue
            assert r.value is not None
            if not r.value.search(value):
                continue
            if r.action == "drop":
                return _DROP
            repl = MASK if r.action == "mask" else (lambda m: self._hash(m.group(0)))
            value = r.value.sub(repl, value)
        return value

    def mapping(self, items: Mapping[str, Any]) -> dict[str, Any] | Mapping[str, Any]:
        out: dict[str, Any] | None = None
        for k, v in items.items():
            nv = self.value(k, v)
            if nv is v:
                continue
            if out is None:
                out = dict(items)
            if nv is _DROP:
                del out[k]
            else:
                out[k] = nv
        return items if out is None else out

    def samples(self, samples: list[Sample]) -> list[Sample]:
        out = samples
        for i, s in enumerate(samples):
            if not s.labels:
                continue
            labels = self.mapping(s.labels)
            if labels is not s.labels:
                if out is samples:
                    out = list(samples)
                out[i] = _replace(s, labels=labels)
        return out

    def spans(self, spans: list[Span]) -> list[Span]:
        out = spans
        for i, s in enumerate(spans):
            attrs = self.mapping(s.attributes) if s.attributes else s.attributes
            if attrs is not s.attributes:
                if out is spans:
                    out = list(spans)
                out[i] = _replace(s, attributes=attrs)
        return out


def _replace(record: Any, **changes: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(record, **changes)
