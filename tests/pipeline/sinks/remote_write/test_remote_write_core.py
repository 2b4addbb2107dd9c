"""Names, time order and the sender's retry policy of the remote-write exporter."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from pipeline.sinks.client import Backoff
from pipeline.sinks.remote_write.batching import requests_of
from pipeline.sinks.remote_write.naming import aggregate_points, label_name, metric_name, window
from pipeline.sinks.remote_write.proto import decode_request, encode_request
from pipeline.sinks.remote_write.sender import RemoteWriteSender
from schemas.records import WindowAggregate


def _agg(**kw: object) -> WindowAggregate:
    base: dict = dict(id="i", series="s", name="system_cpu_percent", host="h1",
                      window_start=100.0, window_end=110.0, count=2, sum=10.0, min=4.0,
                      max=6.0, mean=5.0, last=6.0)  # fmt: skip
    return WindowAggregate(**{**base, **kw})


def _names(points: list) -> dict[tuple[str, str], float]:
    return {(p[0]["__name__"], p[0].get("quantile", p[0].get("le", ""))): p[2] for p in points}


@pytest.mark.parametrize(("seconds", "label"), [(10, "10s"), (60, "1m"), (90, "90s"),
                                               (3600, "1h"), (0.5, "500ms")])  # fmt: skip
def test_window_label(seconds: float, label: str) -> None:
    assert window(seconds) == label


def test_gauge_window_is_a_summary_stamped_at_its_end() -> None:
    points = aggregate_points(_agg(p95=5.9, labels={"service.version": "1.2"}))
    assert _names(points) == {
        ("system_cpu_percent_sum", ""): 10.0, ("system_cpu_percent_count", ""): 2.0,
        ("system_cpu_percent_min", ""): 4.0, ("system_cpu_percent_max", ""): 6.0,
        ("system_cpu_percent_mean", ""): 5.0, ("system_cpu_percent_last", ""): 6.0,
        ("system_cpu_percent", "0.95"): 5.9,
    }  # fmt: skip
    for labels, ts, _ in points:
        assert ts == 110_000 and labels["window"] == "10s" and labels["host"] == "h1"
        assert labels["service_version"] == "1.2"


def test_counter_keeps_its_name_and_gets_a_rate() -> None:
    points = aggregate_points(_agg(name="rx_bytes_total", type="counter", last=900.0, rate=3.5))
    assert _names(points) == {("rx_bytes_total", ""): 900.0, ("rx_bytes_rate", ""): 3.5}


def test_histogram_buckets() -> None:
    points = aggregate_points(_agg(name="req_seconds", type="histogram", buckets=[(0.1, 3.0),
                              (1.0, 5.0)], observations=6.0, observations_sum=2.5))  # fmt: skip
    got = _names(points)
    assert got[("req_seconds_bucket", "0.1")] == 3 and got[("req_seconds_bucket", "1.0")] == 5
    assert got[("req_seconds_bucket", "+Inf")] == 6 and got[("req_seconds_count", "")] == 6
    assert got[("req_seconds_sum", "")] == 2.5


def test_names_and_labels_are_made_valid() -> None:
    assert metric_name("http.server.duration") == "http_server_duration"
    assert metric_name("9lives") == "_9lives"
    assert label_name("service.name") == "service_name"


def test_requests_keep_time_order_per_series_across_splits() -> None:
    labels = {"__name__": "x"}
    points = [(labels, ts, float(ts)) for ts in (5, 1, 4, 2, 3)] + [({"__name__": "y"}, 2, 9.0)]
    sent: list[tuple[int, float]] = []
    for series, n in requests_of(points, max_samples=2):
        assert n <= 2
        for lb, samples in decode_request(encode_request(series)):
            if lb["__name__"] == "x":
                sent += samples
    assert [ts for ts, _ in sent] == [1, 2, 3, 4, 5]


class _Receiver:
    """A real HTTP server answering a scripted list of statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.bodies = list(statuses), []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        assert request.headers["Content-Encoding"] == "snappy"
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)


async def _serve(receiver: _Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/api/v1/write", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/api/v1/write"


@pytest.mark.parametrize(
    ("statuses", "final", "retries"),
    [([503, 500, 429], 204, ["503", "500", "429"]),  # retried until taken
     ([400], 400, []),                               # out of order: counted, never retried
     ([404, 204], 404, [])],
)  # fmt: skip
async def test_sender_retries_5xx_and_429_never_other_4xx(
    statuses: list[int], final: int, retries: list[str]
) -> None:
    receiver = _Receiver(statuses)
    runner, url = await _serve(receiver)
    seen: list[str] = []
    sender = RemoteWriteSender(url, backoff=lambda: Backoff(0.01, 0.02), on_retry=seen.append)
    body = encode_request([({"__name__": "x"}, [(1, 1.0)])])
    try:
        assert await sender.send(body) == final
    finally:
        await sender.close()
        await runner.cleanup()
    assert seen == retries
    assert len(receiver.bodies) == len(retries) + 1
    assert all(b == body for b in receiver.bodies)


async def test_sender_retries_network_errors_until_stopped() -> None:
    from pipeline.broker import free_port

    seen: list[str] = []
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    sender = RemoteWriteSender(url, backoff=lambda: Backoff(0.01, 0.02), on_retry=seen.append)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.5, stop.set)
    try:
        assert await sender.send(b"x", stop) is None
    finally:
        await sender.close()
    assert len(seen) >= 3 and set(seen) == {"network"}


@pytest.mark.peers
async def test_a_real_prometheus_refuses_out_of_order_samples_and_they_are_not_retried(
    tmp_path,
) -> None:
    """Prometheus answers 400 to a sample older than the series' newest: the sender returns
    the 4xx at once (counted as rejected by the exporter), without a retry."""
    import time

    from pipeline.broker import free_port
    from tests.support.prometheus import PROMETHEUS, ReceiverPrometheus

    if PROMETHEUS is None:
        pytest.skip("apt-get install prometheus")
    prom = ReceiverPrometheus(tmp_path, free_port())
    await asyncio.to_thread(prom.start)
    seen: list[str] = []
    sender = RemoteWriteSender(prom.write_url, backoff=lambda: Backoff(0.01, 0.02),
                               on_retry=seen.append)  # fmt: skip
    now = int(time.time() * 1000)
    series = {"__name__": "toka_test_gauge", "window": "10s"}
    try:
        assert await sender.send(encode_request([(series, [(now, 1.0)])])) == 204
        assert await sender.send(encode_request([(series, [(now - 60_000, 2.0)])])) == 400
        assert await sender.send(encode_request([(series, [(now, 1.0)])])) == 204  # same: taken
    finally:
        await sender.close()
        prom.stop()
    assert seen == []
