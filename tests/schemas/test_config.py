"""Configuration: defaults, the shipped file, environment overrides, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.config import DEFAULT_CONFIG_FILE, TokaConfig, load_config
from schemas.errors import ConfigError


def test_no_file_gives_the_documented_defaults() -> None:
    cfg = load_config()
    t = cfg.monitoring.thresholds
    assert (t.cpu_warning_percent, t.cpu_critical_percent) == (70, 85)
    assert (t.memory_warning_percent, t.memory_critical_percent) == (75, 90)
    assert cfg.kafka.topic("alerts") == "toka.alerts"
    assert cfg.pipeline.window_seconds == [10.0, 60.0]


def test_shipped_file_matches_the_defaults() -> None:
    shipped = load_config(DEFAULT_CONFIG_FILE).model_dump(exclude={"agent": {"host"}})
    assert shipped == TokaConfig().model_dump(exclude={"agent": {"host"}})


def _keys(d: dict, path: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(path + k)
        if isinstance(v, dict) and v and k not in ("series",):
            out |= _keys(v, f"{path}{k}.")
    return out


def test_shipped_file_documents_every_key() -> None:
    import yaml

    shipped = _keys(yaml.safe_load(DEFAULT_CONFIG_FILE.read_text()))
    # Left out on purpose: the hostname, and source intervals that inherit agent's.
    inherited = {"agent.host", "agent.sources.system.interval_seconds",
                 "agent.sources.prometheus.interval_seconds"}  # fmt: skip
    missing = _keys(TokaConfig().model_dump(mode="json")) - shipped - inherited
    assert not missing, f"add to {DEFAULT_CONFIG_FILE}: {sorted(missing)}"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "monitoring:\n  interval_seconds: 3\n  thresholds:\n    cpu_critical_percent: 80\n"
    )
    monkeypatch.setenv("TOKA_MONITORING__THRESHOLDS__CPU_CRITICAL_PERCENT", "95")
    monkeypatch.setenv("TOKA_KAFKA__BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    cfg = load_config(f)
    assert cfg.monitoring.interval_seconds == 3
    assert cfg.monitoring.thresholds.cpu_critical_percent == 95
    assert cfg.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092"


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("kafka:\n  bootstrap_server: x\n", "kafka.bootstrap_server", "unknown key"),
        ("monitoring:\n  thresholds:\n    cpu_warning_percent: abc\n",
         "monitoring.thresholds.cpu_warning_percent", "valid number"),
        ("monitoring:\n  thresholds:\n    memory_critical_percent: 150\n",
         "monitoring.thresholds.memory_critical_percent", "less than or equal to 100"),
        ("monitoring:\n  thresholds:\n    cpu_warning_percent: 90\n",
         "monitoring.thresholds", "cpu_warning_percent must be below cpu_critical_percent"),
        ("pipeline:\n  window_seconds: [10, -1]\n", "pipeline.window_seconds.1", "greater than 0"),
        ("performance:\n  tracing_sample_rate: 2\n", "performance.tracing_sample_rate", "1"),
        ("kafka:\n  security:\n    protocol: SASL_SSL\n", "kafka.security", "sasl_mechanism"),
        ("dashboard:\n  theme: neon\n", "dashboard.theme", "'dark' or 'light'"),
        ("- just\n- a list\n", "(root)", "mapping"),
        ("kafka: [unclosed\n", "(file)", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_files_name_the_key_and_what_was_expected(
    tmp_path: Path, text: str, path: str, words: str
) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    errors = dict(info.value.errors)
    assert path in errors, errors
    assert words in errors[path]


def test_secrets_are_masked_when_printed() -> None:
    cfg = TokaConfig(kafka={"security": {
        "protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
        "sasl_username": "u", "sasl_password": "hunter2"}})  # fmt: skip
    assert "hunter2" not in repr(cfg)
    assert cfg.kafka.client_options()["sasl_plain_password"] == "hunter2"


def _toka(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_config_check_command(tmp_path: Path) -> None:
    ok = _toka("config", "check", str(DEFAULT_CONFIG_FILE))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent:\n  interval_seconds: -5\n  colour: blue\n")
    res = _toka("config", "check", str(bad))
    assert res.returncode == 1
    assert "agent.interval_seconds: Input should be greater than 0 (got -5)" in res.stderr
    assert "agent.colour: unknown key" in res.stderr
    missing = _toka("config", "check", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_analytics_read_the_largest_window_unless_told_and_only_a_configured_one() -> None:
    assert TokaConfig(pipeline={"window_seconds": [10, 60]}).analytics_window_seconds() == 60
    cfg = TokaConfig(pipeline={"window_seconds": [10, 60]}, analytics={"window_seconds": 10})
    assert cfg.analytics_window_seconds() == 10
    with pytest.raises(ValidationError):
        TokaConfig(pipeline={"window_seconds": [10, 60]}, analytics={"window_seconds": 30})


def test_a_check_across_blocks_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("analytics:\n  window_seconds: 30\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "analytics.window_seconds: must be one of pipeline.window_seconds" in str(info.value)
    assert "(got 30.0)" in str(info.value)


def test_every_credential_is_masked_when_printed(tmp_path: Path) -> None:
    """SASL cannot run on the embedded broker, so its password is covered here (the live
    run with planted secrets is tests/pipeline/sinks/test_planted_secrets.py)."""
    path = tmp_path / "toka.yaml"
    path.write_text(
        "kafka: {security: {protocol: SASL_SSL, sasl_mechanism: PLAIN, sasl_username: u,"
        " sasl_password: PLANTED1}}\n"
        "agent:\n  redaction: {hash_salt: PLANTED2}\n"
        "  sources: {prometheus: {targets: [{url: 'http://t:9100/metrics',"
        " auth: {username: u, password: PLANTED3}}, {url: 'http://t:9101/metrics',"
        " auth: {bearer_token: PLANTED4}}]}}\n"
        "pipeline: {alertmanager_urls: ['http://am:9093'],"
        " alertmanager_auth: {username: a, password: PLANTED5}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "-c", str(path), "config", "show"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "PLANTED" not in out.stdout + out.stderr and out.stdout.count("**********") == 5
    cfg = load_config(path)
    assert "PLANTED" not in repr(cfg)
    # used where they belong, and only there
    assert cfg.kafka.client_options()["sasl_plain_password"] == "PLANTED1"
    target = cfg.agent.sources.prometheus.targets[1]
    assert target.auth.authorization() == "Bearer PLANTED4"


@pytest.mark.parametrize(
    "block",
    [
        "pipeline: {alertmanager_urls: ['http://admin:PLANTED@am:9093']}",
        "agent: {sources: {prometheus: {targets: [{url: 'http://u:PLANTED@t:9100/m'}]}}}",
        "agent: {redaction: {hash_salt: [PLANTED]}}",
    ],
)
def test_credentials_in_urls_are_refused_without_echoing_them(tmp_path: Path, block: str) -> None:
    path = tmp_path / "toka.yaml"
    path.write_text(block + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "PLANTED" not in str(err.value)


def test_credential_files_and_basic_auth(tmp_path: Path) -> None:
    from schemas.config.credentials import HttpCredentials

    (tmp_path / "pw").write_text("s3cret\n")
    basic = HttpCredentials(username="ann", password_file=tmp_path / "pw")
    assert basic.authorization() == "Basic YW5uOnMzY3JldA=="  # ann:s3cret
    with pytest.raises(ValidationError, match="not both"):
        HttpCredentials(username="a", password="x", bearer_token="y")
    with pytest.raises(ValidationError, match="needs a username"):
        HttpCredentials(password="x")
    with pytest.raises(ConfigError, match="password_file"):
        HttpCredentials(username="a", password_file=tmp_path / "missing").authorization()


def test_environment_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overrides read without pydantic-settings (12 MB of the agent's budget)."""
    monkeypatch.setenv("TOKA_PIPELINE__WINDOW_SECONDS", "[10, 30]")  # JSON for a list
    monkeypatch.setenv("toka_pipeline__partitions", "8")  # names are case-insensitive
    monkeypatch.setenv("TOKA_AGENT__SOURCES__SYSTEM__PER_CORE", "false")
    monkeypatch.setenv("TOKA_PIPELINE__WEB_SECURITY__BEARER_TOKEN_ENV", "X_TOKEN")
    monkeypatch.setenv("TOKA_CONFIG", str(tmp_path / "nowhere.yaml"))  # not a section
    cfg = load_config(None)
    assert cfg.pipeline.window_seconds == [10.0, 30.0] and cfg.pipeline.partitions == 8
    assert cfg.agent.sources.system.per_core is False
    assert cfg.pipeline.web_security.bearer_token_env == "X_TOKEN"
    monkeypatch.setenv("TOKA_KAFKA__BOOTSTRAP_SERVER", "typo:9092")
    with pytest.raises(ConfigError, match="kafka.bootstrap_server: unknown key"):
        load_config(None)
    assert "pydantic_settings" not in sys.modules or _toka_imports_no_settings()


def _toka_imports_no_settings() -> bool:
    out = subprocess.run(
        [sys.executable, "-c", "import sys, schemas.config as c; c.load_config(None);"
         "print('pydantic_settings' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip() == "False"
