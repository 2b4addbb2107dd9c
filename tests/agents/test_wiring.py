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


def test_spool_directory_per_cluster_and_one_process_each(tmp_path, monkeypatch):  # noqa: ANN001
    from agents.publish.spool import Spool, SpoolLockedError
    from agents.runtime import spool_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    a = spool_path(TokaConfig(kafka={"bootstrap_servers": "k1:9092"}))
    b = spool_path(TokaConfig(kafka={"bootstrap_servers": "k2:9092"}))
    assert a != b and a.parent == b.parent == tmp_path / "toka" / "spool"
    explicit = TokaConfig(agent={"publisher": {"spool_dir": str(tmp_path / "s")}})
    assert spool_path(explicit) == tmp_path / "s"

    first = Spool(tmp_path / "s", 1 << 20)
    with pytest.raises(SpoolLockedError, match="in use"):
        Spool(tmp_path / "s", 1 << 20)
    first.close()
    Spool(tmp_path / "s", 1 << 20).close()  # free again once the holder closed it


def test_span_exporters_each_claim_their_own_spool(tmp_path):  # noqa: ANN001
    from agents.spans.exporter import TokaSpanExporter

    cfg = TokaConfig(
        kafka={"bootstrap_servers": "127.0.0.1:1"},
        agent={"publisher": {"spool_dir": str(tmp_path), "shutdown_timeout_seconds": 0}},
    )
    one, two = TokaSpanExporter(cfg), TokaSpanExporter(cfg)
    assert {p.name for p in tmp_path.iterdir()} == {"sdk-0", "sdk-1"}
    one.shutdown()
    three = TokaSpanExporter(cfg)  # adopts the spool the first one left
    two.shutdown()
    three.shutdown()


def test_compression_falls_back_to_what_this_host_has(monkeypatch):  # noqa: ANN001
    from aiokafka import codec

    from agents.publish.kafka import available_compression

    assert available_compression("zstd") == "zstd"
    assert available_compression("none") is None
    monkeypatch.setattr(codec, "has_zstd", lambda: False)
    assert available_compression("zstd") == "lz4"


def test_agent_interval_is_the_default_for_sources_without_their_own():
    target = [{"url": "http://127.0.0.1:9100/metrics"}]
    cfg = TokaConfig(agent={"interval_seconds": 2, "sources": {
        "prometheus": {"enabled": True, "targets": target},
        "system": {"interval_seconds": 30}}})  # fmt: skip
    assert {s.name: s.interval for s in build_sources(cfg)} == {"system": 30, "prometheus": 2}
    plain = TokaConfig(agent={"sources": {"prometheus": {"enabled": True, "targets": target}}})
    assert {s.name: s.interval for s in build_sources(plain)} == {"system": 10, "prometheus": 15}
