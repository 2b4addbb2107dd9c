"""Roles, sessions, CSRF, rate limits and the audit log on a real socket."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest
import yaml

from pipeline.dashboard.server import Dashboard
from pipeline.topics import ensure_topics
from schemas.analytics import BaselineCommand
from schemas.codec import decode
from schemas.config import TokaConfig
from tests.pipeline.dashboard.api_support import TOKENS, config, dashboard_client
from tests.support.kafka import collect

VIEWER, OPERATOR, ADMIN = (f"Bearer {t}" for t in TOKENS)


def _with_tokens(tmp_path: Path, **auth: object) -> TokaConfig:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(TOKENS))
    return config(tmp_path, auth={"tokens_file": tokens, **auth})


def _audit(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_roles_decide_and_refusals_say_why(tmp_path: Path) -> None:
    async with dashboard_client(_with_tokens(tmp_path)) as (client, _):
        none = await client.get("/api/v1/hosts")
        assert none.status == 401 and "no credentials" in (await none.json())["error"]
        wrong = await client.get("/api/v1/hosts", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401 and (await wrong.json())["error"] == "unknown token"
        ok = await client.get("/api/v1/hosts", headers={"Authorization": VIEWER})
        assert ok.status == 200
        # dead letters can hold raw input: admin only
        dead = await client.get("/api/v1/deadletters", headers={"Authorization": OPERATOR})
        assert dead.status == 403
        assert (await dead.json())["error"] == (
            "role operator may not GET /api/v1/deadletters (needs admin)"
        )
        assert (await client.get("/api/v1/deadletters",
                                 headers={"Authorization": ADMIN})).status == 200  # fmt: skip
        pin = await client.post("/api/v1/baselines/pin", json={"subject": "s"},
                                headers={"Authorization": VIEWER})  # fmt: skip
        assert pin.status == 403 and "needs operator" in (await pin.json())["error"]
        # the page and the probe need nothing
        assert (await client.get("/")).status == 200
        assert (await client.get("/healthz")).status == 200
    records = _audit(tmp_path)
    assert [(r["actor"], r["outcome"]) for r in records] == [
        ("-", 401), ("-", 401), ("otto", 403), ("vera", 403)]  # fmt: skip
    assert records[3]["action"] == "POST /api/v1/baselines/pin"
    assert records[3]["remote"] == "127.0.0.1" and records[3]["result"] == "denied"


async def test_login_trades_the_token_for_an_httponly_cookie_and_changes_need_csrf(
    tmp_path: Path,
) -> None:
    async with dashboard_client(_with_tokens(tmp_path)) as (client, _):
        bad = await client.post("/login", json={"token": "guess"})
        assert bad.status == 401
        login = await client.post("/login", json={"token": list(TOKENS)[0]})
        assert login.status == 200
        cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert list(TOKENS)[0] not in cookie  # the token itself never becomes the cookie
        csrf = (await login.json())["csrf"]
        me = await (await client.get("/api/v1/whoami")).json()
        assert me == {"name": "vera", "role": "viewer", "via": "session", "csrf": csrf,
                      "open_mode": False}  # fmt: skip
        # a viewer's session can read but not change; the CSRF check comes first for nobody
        assert (await client.get("/api/v1/hosts")).status == 200
        no_csrf = await client.post("/logout")
        assert no_csrf.status == 403 and "X-CSRF-Token" in (await no_csrf.json())["error"]
        out = await client.post("/logout", headers={"X-CSRF-Token": csrf})
        assert out.status == 200
        assert (await client.get("/api/v1/hosts")).status == 401
    actions = [(r["action"], r["outcome"]) for r in _audit(tmp_path)]
    assert ("login", 401) in actions and ("login", 200) in actions
    assert ("POST /logout", 403) in actions and ("POST /logout", 200) in actions


async def test_operator_session_needs_csrf_for_a_baseline_change(tmp_path: Path) -> None:
    async with dashboard_client(_with_tokens(tmp_path)) as (client, _):
        login = await client.post("/login", json={"token": list(TOKENS)[1]})
        csrf = (await login.json())["csrf"]
        forged = await client.post("/api/v1/baselines/reset", json={"subject": "s"},
                                   headers={"X-CSRF-Token": "forged"})  # fmt: skip
        assert forged.status == 403 and "CSRF" in (await forged.json())["error"]
        bad = await client.post("/api/v1/baselines/explode", json={"subject": "s"},
                                headers={"X-CSRF-Token": csrf})  # fmt: skip
        assert bad.status == 400


async def test_without_tokens_only_loopback_clients_are_served(tmp_path: Path) -> None:
    async with dashboard_client(config(tmp_path), remote="10.1.2.3") as (client, dashboard):
        far = await client.get("/api/v1/hosts")
        assert far.status == 403 and "loopback clients only" in (await far.json())["error"]
        assert "loopback clients only" in dashboard.access.describe()
    async with dashboard_client(config(tmp_path)) as (client, _):
        me = await (await client.get("/api/v1/whoami")).json()
        assert me["role"] == "admin" and me["via"] == "loopback"
        # even the local admin's browser must send the CSRF token with a change
        no_csrf = await client.post("/api/v1/baselines/pin", json={"subject": "s"})
        assert no_csrf.status == 403


async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    cfg = _with_tokens(tmp_path, rate_limit_per_second=2.0)
    async with dashboard_client(cfg) as (client, _):
        statuses = []
        for _ in range(8):
            r = await client.get("/api/v1/config", headers={"Authorization": VIEWER})
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 1
        assert statuses[:4] == [200] * 4 and 429 in statuses  # burst of twice the rate
    assert any(r["outcome"] == 429 for r in _audit(tmp_path))


def test_a_bad_tokens_file_fails_at_start_with_the_reason(tmp_path: Path) -> None:
    from schemas.errors import ConfigError

    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"short": {"role": "viewer"}}))
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Dashboard(config(tmp_path, auth={"tokens_file": tokens}), consume=False)


@pytest.mark.integration
async def test_baseline_change_reaches_the_stage_topic_and_the_audit_topic(
    kafka_config: TokaConfig, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump(TOKENS))
    cfg = kafka_config.model_copy(update={"dashboard": config(tmp_path, auth={
        "tokens_file": tokens}).dashboard})  # fmt: skip
    await ensure_topics(cfg)
    dashboard = Dashboard(cfg)
    url = await dashboard.start()
    import aiohttp

    try:
        async with aiohttp.ClientSession() as http:
            r = await http.post(url + "api/v1/baselines/pin", json={"subject": "h1|cpu|"},
                                headers={"Authorization": OPERATOR})  # fmt: skip
            assert r.status == 200
    finally:
        await dashboard.stop()
    bootstrap = cfg.kafka.bootstrap_servers
    commands = await collect(bootstrap, cfg.kafka.topic("baseline-commands"), bool,
                             decode=decode)  # fmt: skip
    assert isinstance(commands[0], BaselineCommand)
    assert (commands[0].action, commands[0].subject) == ("pin", "h1|cpu|")
    audit = await collect(bootstrap, cfg.kafka.topic("audit"), bool,
                          decode=orjson.loads)  # fmt: skip
    assert audit[0]["actor"] == "otto" and audit[0]["target"] == "h1|cpu|"
    assert audit[0]["outcome"] == 200 and audit[0]["ts"] <= time.time()
    assert _audit(tmp_path)[0]["action"] == "POST /api/v1/baselines/pin"


def test_the_shared_layers_single_token_is_refused_for_tokens_with_roles(tmp_path: Path) -> None:
    from schemas.errors import ConfigError

    with pytest.raises(ConfigError, match="auth.tokens_file"):
        Dashboard(config(tmp_path, security={"bearer_token_env": "SOME_TOKEN"}), consume=False)
