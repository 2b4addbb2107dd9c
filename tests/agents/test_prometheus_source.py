"""Prometheus scrape against real peers: prometheus-node-exporter, a prometheus_client
endpoint with a histogram, a closed port and a server that answers garbage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from agents.sources.prometheus import PrometheusSource, ScrapeTarget, parse_exposition
from pipeline.broker import free_port

pytestmark = pytest.mark.peers


@pytest.fixture
def node_exporter() -> Iterator[str]:
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        pytest.skip("prometheus-node-exporter is not installed (apt-get install it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "node exporter did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/metrics"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def client_endpoint() -> Iterator[str]:
    reg = CollectorRegistry()
    h = Histogram("req_seconds", "latency", ["route"], buckets=(0.1, 1.0), registry=reg)
    c = Counter("jobs", "jobs done", registry=reg)
    for v in (0.05, 0.5, 2.0):
        h.labels("/a").observe(v)
    c.inc(7)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=reg)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    thread.join(5)


@pytest.fixture
async def garbage_endpoint() -> str:
    async def handler(_r: web.Request) -> web.Response:
        return web.Response(text="<html>\n<body>this is not { metrics\n</html>\n")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/metrics"
    await runner.cleanup()


def _by(samples, name):  # noqa: ANN001, ANN202
    return [s for s in samples if s.name == name]


async def test_scrapes_node_exporter_and_client_histograms(
    node_exporter: str, client_endpoint: str
):
    src = PrometheusSource(
        [ScrapeTarget(node_exporter, "node", {"dc": "x"}), ScrapeTarget(client_endpoint, "app")],
        timeout=5,
    )
    try:
        samples = await src.collect()
    finally:
        await src.close()
    up = {s.labels["job"]: s.value for s in _by(samples, "up")}
    assert up == {"node": 1.0, "app": 1.0}

    cpu = _by(samples, "node_cpu_seconds_total")
    assert cpu and all(s.type == "counter" for s in cpu)
    assert {"cpu", "mode", "job", "instance", "dc"} <= set(cpu[0].labels)
    assert cpu[0].labels["job"] == "node" and cpu[0].labels["dc"] == "x"
    assert _by(samples, "node_load1")[0].type == "gauge"
    gc = _by(samples, "go_gc_duration_seconds")  # a summary keeps its quantiles
    assert {s.labels.get("quantile") for s in gc} >= {"0", "0.5", "1"}
    assert len(samples) > 200

    [hist] = _by(samples, "req_seconds")
    assert hist.type == "histogram" and hist.labels["route"] == "/a"
    assert hist.buckets == [(0.1, 1.0), (1.0, 2.0)] and hist.value == 3.0
    assert hist.sum == pytest.approx(2.55)
    [jobs] = _by(samples, "jobs_total")
    assert jobs.type == "counter" and jobs.value == 7.0


async def test_down_and_garbage_targets_are_up_zero(node_exporter: str, garbage_endpoint: str):
    closed = f"http://127.0.0.1:{free_port()}/metrics"
    src = PrometheusSource(
        [ScrapeTarget(closed, "gone"), ScrapeTarget(garbage_endpoint, "junk"),
         ScrapeTarget(node_exporter, "node")],
        timeout=2,
    )  # fmt: skip
    try:
        samples = await src.collect()
    finally:
        await src.close()
    up = {s.labels["job"]: s.value for s in _by(samples, "up")}
    assert up == {"gone": 0.0, "junk": 0.0, "node": 1.0}
    assert _by(samples, "node_load1")  # the healthy target carried on


def test_parse_openmetrics_and_non_finite():
    text = (
        "# TYPE a counter\na_total 3\na_created 1.7e9\n"
        '# TYPE g gauge\ng NaN\ng{x="1"} 2\n'
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_count 2\nh_sum 3\n'
        "# EOF\n"
    )
    samples = parse_exposition(text, {"job": "j"}, openmetrics=True)
    names = [(s.name, s.type, s.value) for s in samples]
    assert ("a_total", "counter", 3.0) in names
    assert not any(n == "a_created" for n, *_ in names)
    assert [s.labels for s in samples if s.name == "g"] == [{"job": "j", "x": "1"}]
    [h] = _by(samples, "h")
    assert h.buckets == [(1.0, 1.0)] and h.value == 2.0 and h.sum == 3.0
    with pytest.raises(ValueError):
        parse_exposition("<html>\nnot { metrics\n", {}, openmetrics=False)


@pytest.mark.parametrize(
    ("honor", "expected"),
    [
        (False, {"job": "node", "instance": "h:1", "exported_job": "app", "x": "1"}),
        (True, {"job": "app", "instance": "h:1", "x": "1"}),
    ],
)
def test_clashing_labels_as_prometheus_does(honor: bool, expected: dict[str, str]):
    text = '# TYPE g gauge\ng{job="app",instance="h:1",x="1"} 1\n'
    [s] = parse_exposition(text, {"job": "node", "instance": "h:1"}, honor_labels=honor)
    assert s.labels == expected


@pytest.fixture
async def bad_histogram_endpoint() -> str:
    """Text the parser accepts but that makes no sense: a bucket without le, NaN sums."""

    async def handler(_r: web.Request) -> web.Response:
        return web.Response(text=(
            "# TYPE broken histogram\nbroken_bucket 1\nbroken_count 2\n"
            '# TYPE nan histogram\nnan_bucket{le="1"} NaN\nnan_bucket{le="+Inf"} 2\n'
            "nan_count 2\nnan_sum NaN\n"
            "# TYPE fine gauge\nfine 1\n"
        ))  # fmt: skip

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/metrics"
    await runner.cleanup()


async def test_one_bad_histogram_costs_only_itself(
    client_endpoint: str, bad_histogram_endpoint: str
):
    from schemas.codec import encode
    from schemas.records import MetricBatch

    src = PrometheusSource(
        [ScrapeTarget(bad_histogram_endpoint, "bad"), ScrapeTarget(client_endpoint, "app")],
        timeout=2,
    )
    try:
        samples = await src.collect()
    finally:
        await src.close()
    up = {s.labels["job"]: s.value for s in _by(samples, "up")}
    assert up == {"bad": 1.0, "app": 1.0}
    assert _by(samples, "jobs_total") and _by(samples, "fine")  # both targets' samples kept
    dropped = {s.labels["job"]: s.value for s in _by(samples, "scrape_families_dropped")}
    assert dropped == {"bad": 1.0, "app": 0.0}
    [nan] = _by(samples, "nan")
    assert nan.sum is None and nan.buckets == []  # no NaN reaches the record
    batch = MetricBatch(id="x", host="h", source="prometheus", ts=1.0, samples=samples)
    assert b"NaN" not in encode(batch)
