"""The Collector's otlp_metrics messages into MetricBatches (pure)."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToJson

from agents.otlp_metrics.convert import DeltaState
from pipeline.otlp_metrics.core import decode_otlp_metrics, resource_host
from schemas.errors import DecodeError
from tests.pipeline.otlp_metrics.otlp_messages import sdk_requests


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_messages_become_one_batch_per_resource(encoding: str, temporality: str) -> None:
    requests = sdk_requests("db-1", rounds=3, temporality=temporality)
    deltas = DeltaState()
    batches = []
    for n, req in enumerate(requests):
        data = (MessageToJson(req).encode() if encoding == "otlp_json"
                else req.SerializeToString())  # fmt: skip
        batches += decode_otlp_metrics(data, deltas, f"otlp-t-0-{n}")
    assert [b.id for b in batches] == ["otlp-t-0-0-0", "otlp-t-0-1-0", "otlp-t-0-2-0"]
    last = {s.name: s for s in batches[-1].samples}
    assert batches[-1].host == "db-1" and batches[-1].resource["service.name"] == "billing"
    assert last["jobs_done_total"].type == "counter" and last["jobs_done_total"].value == 15
    assert last["jobs_done_total"].labels == {"service": "billing", "queue": "email"}
    hist = last["job_duration"]
    assert hist.value == 6 and hist.sum == pytest.approx(3 * 3.2)
    assert dict(hist.buckets or [])[0.25] == 3 and dict(hist.buckets or [])[5.0] == 6


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"{not json", b"[1, 2]"])
def test_undecodable_messages_raise(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_otlp_metrics(data, DeltaState(), "x")


@pytest.mark.parametrize(("resource", "host"), [
    ({"host.name": "a", "service.name": "s"}, "a"), ({"k8s.pod.name": "p"}, "p"),
    ({"service.name": "s"}, "s"), ({}, "unknown"),
])  # fmt: skip
def test_resource_host(resource: dict[str, str], host: str) -> None:
    assert resource_host(resource) == host


def test_delta_state_is_bounded() -> None:
    deltas = DeltaState(max_streams=2)
    for i in range(5):
        deltas.put(("k", i), float(i))
    assert deltas.evicted == 3 and deltas.get(("k", 0)) is None and deltas.get(("k", 4)) == 4
