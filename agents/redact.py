"""Redaction before anything leaves the host: drop, hash or mask label and attribute values.

A rule matches a key pattern, a value pattern, or both. With a key pattern alone the whole
value is treated; with a value pattern the matching parts of the value are (so an email
inside a URL is masked and the rest of the URL kept), except ``drop``, which removes the key.
A value pattern with a group named ``secret`` treats only that group (``--password=***``
keeps the flag, so a reader still sees what was there). Named patterns (``@email``,
``@ipv4``, ``@ipv6``, ``@bearer``, ``@jwt``, ``@cli_secret``, ``@env_secret``,
``@url_credentials``, ``@query_secret``) save writing regexes.

On by default: secret-looking keys, bearer tokens, JWTs, command-line and environment-style
secrets (``--password=x``, ``--token x``, ``PGPASSWORD=x``), credentials and token query
parameters in URLs, and e-mail addresses. IP addresses are one switch away
(``agent.redaction.ip_addresses``): they are what most host metrics are about, so masking
them by default would blind the operator more than it protects anyone.

Patterns are written here rather than taken from a library: the candidates (detect-secrets,
scrubadub) scan files or prose with entropy and NLP plug-ins, cost tens of MB, and do not
mask parts of a value on an agent's hot path.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from schemas.records import Sample, Span

if TYPE_CHECKING:
    from schemas.config.agent import RedactionConfig

__all__ = ["DEFAULT_RULES", "IP_RULES", "MASK", "Redactor", "Rule", "default_redactor"]

MASK = "***"

# Words that name a secret, in keys, flags and environment variables.
_SECRET_WORDS = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|api[-_.]?key|access[-_.]?key|private[-_.]?key"
    r"|credentials?|auth"
)
_VALUE = r"""(?P<secret>(?!-)[^\s"'&,;]+)"""

NAMED_PATTERNS = {
    "@email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "@ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    # Candidates only: each match is checked by ipaddress (so 12:30:45 stays a time).
    "@ipv6": r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])",
    "@bearer": r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+",
    "@jwt": r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    # --password=x, -password x, --db-token x, --api-key=x
    "@cli_secret": rf"(?i)(?<![\w-])--?[\w.-]*(?:{_SECRET_WORDS})[\w.-]*(?:=|\s+){_VALUE}",
    # PGPASSWORD=x, MYSQL_PWD=x, aws_secret_access_key=x, password=x in a query string
    "@env_secret": rf"(?i)(?<![\w-])\w*(?:{_SECRET_WORDS})\w*={_VALUE}",
    # scheme://user:password@host: the password, not the user or host
    "@url_credentials": r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:(?P<secret>[^/\s@]+)@",
    # ?sig=x&key=x&X-Amz-Signature=x: words too common for command lines, fine in a query
    "@query_secret": r"(?i)[?&][\w.-]*(?:key|sig|signature|code)=(?P<secret>[^&\s#]+)",
}

_VALIDATORS: dict[str, Callable[[str], bool]] = {}

Action = Literal["drop", "hash", "mask"]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_VALIDATORS["@ipv6"] = _is_ip


@dataclass(frozen=True, slots=True)
class Rule:
    key: re.Pattern[str] | None
    value: re.Pattern[str] | None
    action: Action
    check: Callable[[str], bool] | None = None  # a match counts only if this says so

    @classmethod
    def of(cls, key: str | None = None, value: str | None = None, action: Action = "mask") -> Rule:
        def comp(p: str | None) -> re.Pattern[str] | None:
            return re.compile(NAMED_PATTERNS.get(p, p)) if p else None

        return cls(comp(key), comp(value), action, _VALIDATORS.get(value or ""))


_SECRET_KEYS = (
    r"(?i)(authorization|passw(or)?d|secret|token|cookie|api[-_.]?key|credential|session[-_.]?id)"
)
DEFAULT_RULES = (
    Rule.of(key=_SECRET_KEYS),
    Rule.of(value="@bearer"),
    Rule.of(value="@jwt"),
    Rule.of(value="@url_credentials"),
    Rule.of(value="@cli_secret"),
    Rule.of(value="@env_secret"),
    Rule.of(value="@query_secret"),
    Rule.of(value="@email"),
)
IP_RULES = (Rule.of(value="@ipv4"), Rule.of(value="@ipv6"))

_DROP = object()
_CACHE_MAX = 10_000  # bounded: keys and values come from outside


class Redactor:
    """Applies rules to label dicts, span attributes, resources and span names. Unchanged
    inputs are returned as they are, and a value seen before costs one dictionary lookup
    (host label values repeat every scrape), so the common case allocates nothing."""

    def __init__(self, rules: Iterable[Rule], salt: str = "") -> None:
        rules = list(rules)
        self._key_rules = [r for r in rules if r.value is None]
        self._value_rules = [r for r in rules if r.value is not None]
        self._salt = salt.encode()
        self._key_cache: dict[str, Action | None] = {}
        self._value_cache: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_config(cls, cfg: RedactionConfig) -> Redactor | None:
        if not cfg.enabled:
            return None
        rules = list(DEFAULT_RULES) if cfg.default_rules else []
        rules += IP_RULES if cfg.ip_addresses else ()
        rules += [Rule.of(r.key, r.value, r.action) for r in cfg.rules]
        return cls(rules, cfg.hash_salt.get_secret_value()) if rules else None

    def _hash(self, text: str) -> str:
        return "sha256:" + hashlib.sha256(self._salt + text.encode()).hexdigest()[:16]

    def _key_action(self, key: str) -> Action | None:
        try:
            return self._key_cache[key]
        except KeyError:
            act = next((r.action for r in self._key_rules if r.key and r.key.search(key)), None)
            if len(self._key_cache) < _CACHE_MAX:
                self._key_cache[key] = act
            return act

    def value(self, key: str, value: Any) -> Any:
        """The redacted value, or ``_DROP``. Lists and nested maps are redacted inside."""
        act = self._key_action(key)
        if act is not None:
            return _DROP if act == "drop" else (MASK if act == "mask" else self._hash(str(value)))
        if isinstance(value, str):
            return self._text(key, value)
        if isinstance(value, list | tuple):
            items = [self._text(key, v) if isinstance(v, str) else v for v in value]
            kept = [v for v in items if v is not _DROP]
            changed = len(kept) != len(value) or any(
                a is not b for a, b in zip(kept, value, strict=False)
            )
            return kept if changed else value
        if isinstance(value, dict):
            return self.mapping(value)
        return value

    def _text(self, key: str, value: str) -> Any:
        try:
            return self._value_cache[(key, value)]
        except KeyError:
            pass
        out: Any = value
        for r in self._value_rules:
            if r.key is not None and not r.key.search(key):
                continue
            out = self._apply(r, out)
            if out is _DROP:
                break
        if out == value:
            out = value  # the same object: callers test identity
        if len(self._value_cache) >= _CACHE_MAX:
            self._value_cache.clear()
        self._value_cache[(key, value)] = out
        return out

    def _apply(self, rule: Rule, text: str) -> Any:
        pattern = rule.value
        assert pattern is not None
        if not pattern.search(text):
            return text
        if rule.action == "drop":
            if rule.check is None or any(rule.check(m.group(0)) for m in pattern.finditer(text)):
                return _DROP
            return text
        secret = pattern.groupindex.get("secret")

        def replace(m: re.Match[str]) -> str:
            whole = m.group(0)
            if rule.check is not None and not rule.check(whole):
                return whole
            if secret is None or m.group(secret) is None:
                return MASK if rule.action == "mask" else self._hash(whole)
            start, end = m.start(secret) - m.start(), m.end(secret) - m.start()
            part = MASK if rule.action == "mask" else self._hash(m.group(secret))
            return whole[:start] + part + whole[end:]

        return pattern.sub(replace, text)

    def text(self, value: str, key: str = "span.name") -> str:
        """A free-text value (a span name): value rules only, never dropped."""
        out = self._text(key, value)
        return MASK if out is _DROP else out

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
            name = self.text(s.name) if s.name else s.name
            if attrs is not s.attributes or name is not s.name:
                if out is spans:
                    out = list(spans)
                out[i] = _replace(s, attributes=attrs, name=name)
        return out

    def resource(self, resource: dict[str, str]) -> dict[str, str]:
        """A resource's attributes (service.name, host.name, process.command_line, ...)."""
        out = self.mapping(resource)
        return out if isinstance(out, dict) else dict(out)


def default_redactor() -> Redactor:
    """The rules that apply when nothing was configured (the pipeline's OTLP input)."""
    return Redactor(DEFAULT_RULES)


def _replace(record: Any, **changes: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(record, **changes)
