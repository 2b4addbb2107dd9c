"""One pipeline feeding a real Prometheus, shared by the remote-write and dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.broker import EmbeddedBroker
from tests.pipeline.sinks.remote_write.rw_pipeline import Fed, feed_pipeline
from tests.support.prometheus import PROMETHEUS


@pytest.fixture(scope="session")
def fed(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    yield from feed_pipeline(broker, tmp_path_factory.mktemp("remote-write"))
