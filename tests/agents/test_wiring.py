"""Config -> sources: every source switchable, the registry refuses duplicates."""

from __future__ import annotations

import pytest

from agents.errors import DuplicateSourceError
from agents.runtime import build_sources
from agents.sources.base import SourceRegistry
from agents.sources.system import SystemSource
from schemas.config import TokaConfig


def test_sources_follow_the_config():
    cfg = TokaConfig(agent={"sources": {
        "system": {"enabled": True, "interval_seconds": 7, "top_processes": 0},
        "prometheus": {"enabled": True, "interval_seconds": 3,
                       "targets": [{"url": "http://127.0.0.1:9100/metrics", "job": "node"}]},
    }})  # fmt: skip
    reg = build_sources(cfg)
    assert reg.names() == ["system", "prometheus"]
    assert [s.interval for s in reg] == [7, 3]
    off = TokaConfig(agent={"sources": {"system": {"enabled": False}}})
    assert len(build_sources(off)) == 0


def test_registry_refuses_duplicates():
    reg = SourceRegistry()
    reg.register(SystemSource(top_processes=0))
    with pytest.raises(DuplicateSourceError):
        reg.register(SystemSource(top_processes=0))
