"""The sink stage installs nothing without URLs, and its agent and timer with them."""

from __future__ import annotations

from pipeline.app import create_app
from schemas.config import TokaConfig


def agent_names(app) -> set[str]:
    return {a.name for a in app.agents.values()}


def test_no_urls_no_sink():
    app = create_app(TokaConfig(), stages=["pipeline.sinks.stage"])
    assert not any("alertmanager" in n for n in agent_names(app))
    assert not hasattr(app, "toka_alertmanager")


def test_urls_install_the_sink():
    cfg = TokaConfig(
        pipeline={
            "alertmanager_urls": ["http://127.0.0.1:9093/"],
            "alertmanager_resend_seconds": 30,
        }
    )
    app = create_app(cfg, stages=["pipeline.sinks.stage"])
    assert any("alertmanager" in n for n in agent_names(app))
    assert app.toka_alertmanager.urls == ["http://127.0.0.1:9093/api/v2/alerts"]
    assert "toka-alertmanager-active" in app.tables
