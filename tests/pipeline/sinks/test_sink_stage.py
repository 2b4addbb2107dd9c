"""The sink stage installs nothing without URLs, and its agent and timer with them."""

from __future__ import annotations

from pipeline.app import create_pipeline
from schemas.config import TokaConfig


def agent_names(app) -> set[str]:
    return {a.name for a in app.agents.values()}


def test_no_urls_no_sink():
    ctx = create_pipeline(TokaConfig(), stages=["pipeline.sinks.stage"])
    assert not any("alertmanager" in n for n in agent_names(ctx.app))
    assert "alertmanager" not in ctx.services


def test_urls_install_the_sink():
    cfg = TokaConfig(
        pipeline={
            "alertmanager_urls": ["http://127.0.0.1:9093/"],
            "alertmanager_resend_seconds": 30,
        }
    )
    ctx = create_pipeline(cfg, stages=["pipeline.sinks.stage"])
    assert any("alertmanager" in n for n in agent_names(ctx.app))
    assert ctx.services["alertmanager"].urls == ["http://127.0.0.1:9093/api/v2/alerts"]
    assert "toka-alertmanager-active" in ctx.app.tables
