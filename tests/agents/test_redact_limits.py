"""Pure cores: redaction rules, sample caps, the span token bucket."""

from __future__ import annotations

import pytest

from agents.limits import TokenBucket, cap_samples
from agents.redact import DEFAULT_RULES, MASK, Redactor, Rule
from schemas.config.agent import RedactionConfig
from schemas.records import Sample, Span

DEFAULT = Redactor(DEFAULT_RULES)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("authorization", "Basic dXNlcjpwYXNz", MASK),
        ("http.request.header.cookie", "sid=abc", MASK),
        ("db.password", "hunter2", MASK),
        ("X-Api-Key", "k-123", MASK),
        ("access_token", "abc", MASK),
        ("http.url", "https://x/y?auth=Bearer abc.def-ghi", "https://x/y?auth=***"),
        ("note", "eyJhbGciOi.eyJzdWIiOi.sig_nature", MASK),
        ("mount", "/var/lib", "/var/lib"),
        ("user.email", "ann@example.com", MASK),
        ("peer", "10.1.2.3 at 12:30:45", "10.1.2.3 at 12:30:45"),  # IPs: one switch away
        ("count", 3, 3),
    ],
)
def test_default_rules(key: str, value: object, expected: object):
    assert DEFAULT.mapping({key: value}) == {key: expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "mysqld --user=root --password=hunter2 PGPASSWORD=s3cret",
            "mysqld --user=root --password=*** PGPASSWORD=***",
        ),
        ("app --token abc123 --verbose", "app --token *** --verbose"),
        ("app --api-key=k1 -p 80", "app --api-key=*** -p 80"),
        (
            "env MYSQL_PWD=pw AWS_SECRET_ACCESS_KEY=ak run",
            "env MYSQL_PWD=*** AWS_SECRET_ACCESS_KEY=*** run",
        ),
        ("psql postgres://ann:pa55@db:5432/x", "psql postgres://ann:***@db:5432/x"),
        ("curl https://h/p?access_token=t0k&x=1", "curl https://h/p?access_token=***&x=1"),
        ("https://b.s3/o?X-Amz-Signature=abc&sig=d", "https://b.s3/o?X-Amz-Signature=***&sig=***"),
        ("mail ann@example.com now", "mail *** now"),
        ("python -m http.server 8000", "python -m http.server 8000"),
        ("http://host:8080/path?page=2", "http://host:8080/path?page=2"),
    ],
)
def test_default_rules_mask_command_line_secrets(value: str, expected: str):
    assert DEFAULT.mapping({"cmdline": value}) == {"cmdline": expected}


def test_ip_addresses_one_switch_away():
    r = Redactor.from_config(RedactionConfig(ip_addresses=True))
    assert r is not None
    out = r.mapping({"peer": "from 10.1.2.3 and fe80::1 at 12:30:45", "v6": "2001:db8::2"})
    assert out == {"peer": "from *** and *** at 12:30:45", "v6": MASK}


def test_spans_names_resources_and_lists_are_redacted():
    span = Span(
        trace_id="t", span_id="s", start_ns=1, end_ns=2,
        name="GET /reset?token=abc for ann@example.com",
        attributes={"process.command_args": ["mysqld", "--password=hunter2"], "n": 1},
    )  # fmt: skip
    out = DEFAULT.spans([span])[0]
    assert out.name == "GET /reset?token=*** for ***"
    assert out.attributes == {"process.command_args": ["mysqld", "--password=***"], "n": 1}
    resource = {"service.name": "api", "process.command_line": "run PGPASSWORD=x"}
    assert DEFAULT.resource(resource) == {
        "service.name": "api",
        "process.command_line": "run PGPASSWORD=***",
    }


def test_hash_salt_is_not_printed():
    cfg = RedactionConfig(hash_salt="pepper-42")
    assert "pepper-42" not in repr(cfg) and "pepper-42" not in str(cfg.model_dump(mode="json"))


def test_configured_rules_drop_hash_and_mask_parts():
    r = Redactor.from_config(
        RedactionConfig(
            rules=[
                {"value": "@email", "action": "mask"},
                {"key": "(?i)^user[._]id$", "action": "hash"},
                {"value": "@ipv4", "action": "hash"},
                {"key": "^internal\\.", "action": "drop"},
            ],
            hash_salt="s",
        )
    )
    assert r is not None
    out = r.mapping(
        {
            "url": "/u/ann@example.com/x",
            "user_id": "42",
            "peer": "client 10.1.2.3 ok",
            "internal.debug": "x",
            "keep": "me",
        }
    )
    assert out["url"] == "/u/***/x"
    assert (
        out["user_id"].startswith("sha256:")
        and out["user_id"] != r.mapping({"user_id": "43"})["user_id"]
    )
    assert out["user_id"] == r.mapping({"user_id": "42"})["user_id"]  # stable: joins still work
    assert out["peer"].startswith("client sha256:") and "10.1.2.3" not in out["peer"]
    assert "internal.debug" not in out and out["keep"] == "me"


def test_unchanged_inputs_are_returned_as_they_are():
    samples = [Sample(name="a", value=1, labels={"mount": "/"}), Sample(name="b", value=2)]
    assert DEFAULT.samples(samples) is samples
    spans = [Span(trace_id="t", span_id="s", name="n", start_ns=1, end_ns=2, attributes={"k": 1})]
    assert DEFAULT.spans(spans) is spans
    secret = [Span(trace_id="t", span_id="s", name="n", start_ns=1, end_ns=2,
                   attributes={"http.request.header.authorization": "Bearer x"})]  # fmt: skip
    assert DEFAULT.spans(secret)[0].attributes == {"http.request.header.authorization": MASK}


def test_redaction_off():
    assert Redactor.from_config(RedactionConfig(enabled=False)) is None
    assert Redactor.from_config(RedactionConfig(default_rules=False)) is None


def test_rule_needs_a_pattern():
    with pytest.raises(ValueError, match="key or a value"):
        RedactionConfig(rules=[{"action": "drop"}])
    assert Rule.of(key="a").key is not None


def _s(name: str, i: int) -> Sample:
    return Sample(name=name, value=1.0, labels={"i": str(i)})


def test_cap_samples_and_series():
    samples = [_s("a", i) for i in range(10)] + [_s("a", 0)] * 3
    r = cap_samples(samples, max_samples=100, max_series=4)
    assert len(r.samples) == 4 + 3 and r.over_series == 6 and r.over_samples == 0
    r = cap_samples(samples, max_samples=5, max_series=100)
    assert r.samples == samples[:5] and r.over_samples == 8
    assert cap_samples(samples, 100, 100).samples is samples


def test_token_bucket():
    now = [0.0]
    b = TokenBucket(100, clock=lambda: now[0])
    assert b.take(150) == 100
    assert b.take(1) == 0
    now[0] = 0.5
    assert b.take(80) == 50
    now[0] = 100.0
    assert b.take(1000) == 100  # bursts are capped
