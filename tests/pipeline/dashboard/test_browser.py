"""A real browser (Debian's chromium, driven by Playwright) on the dashboard of a running
`toka up`: broker, worker, agent and dashboard as real processes.

A synthetic critical CPU spike shows as a firing alert on the overview within one refresh
of its arrival on the alerts topic; the host page draws a chart with points; the capacity
page draws a prediction band. Every page is screenshotted (into the test's directory, and
into $TOKA_SCREENSHOT_DIR when set) and any console error fails the test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.broker import free_port
from schemas.codec import decode, encode
from schemas.records import Alert
from tests.pipeline.dashboard.helpers import capacity
from tests.pipeline.test_up import Console
from tests.support.kafka import collect, publish

pytestmark = pytest.mark.peers

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]  # fmt: skip
REFRESH = 5.0


@pytest.fixture
def toka_up(tmp_path: Path):  # type: ignore[no-untyped-def]
    port, dashboard_port = free_port(), free_port()
    env = {
        **os.environ,
        "TOKA_BROKER__PORT": str(port),
        "TOKA_PIPELINE__WINDOW_SECONDS": "[2]",
        "TOKA_PIPELINE__GRACE_SECONDS": "0.5",
        "TOKA_PIPELINE__IDLE_CLOSE_SECONDS": "2",
        "TOKA_PIPELINE__WEB_PORT": str(free_port()),
        "TOKA_PIPELINE__DATA_DIR": str(tmp_path / "worker"),
        "TOKA_AGENT__SOURCES__SYSTEM__INTERVAL_SECONDS": "1",
        "TOKA_AGENT__SOURCES__OTLP__PORT": str(free_port()),
        "TOKA_AGENT__HTTP__PORT": str(free_port()),
        "TOKA_AGENT__PUBLISHER__SPOOL_DIR": str(tmp_path / "spool"),
        "TOKA_DASHBOARD__PORT": str(dashboard_port),
        "TOKA_DASHBOARD__REFRESH_INTERVAL_SECONDS": str(REFRESH),
        "TOKA_DASHBOARD__HISTORY_FILE": str(tmp_path / "history.duckdb"),
        "TOKA_DASHBOARD__AUTH__AUDIT_FILE": str(tmp_path / "audit.jsonl"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli.main", "up", "--log-dir", str(tmp_path / "logs")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    console = Console(proc)
    try:
        url = f"http://127.0.0.1:{dashboard_port}/"
        console.wait_for("dashboard on", url, timeout=90)
        console.wait_for("first window after", timeout=90)
        yield env, console, url, f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_dashboard_in_a_real_browser(toka_up, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    env, console, url, bootstrap = toka_up
    shots = tmp_path / "screenshots"
    shots.mkdir()
    extra = os.environ.get("TOKA_SCREENSHOT_DIR")
    errors: list[str] = []
    demo = f"spike-{bootstrap.rsplit(':', 1)[1]}"
    await publish(bootstrap, "toka.capacity", [(b"cap", encode(capacity(demo)))])

    async def snap(page, name: str) -> None:  # type: ignore[no-untyped-def]
        path = shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if extra:
            shutil.copy(path, Path(extra) / path.name)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(url)
            await page.wait_for_selector("#hosts tbody tr a", timeout=30_000)

            # the spike: a real synthetic agent publish, through the real worker
            subprocess.run(
                [sys.executable, "-m", "pipeline.cli.main", "agent", "publish-synthetic",
                 "--host", demo, "--cpu", "95", "--count", "3", "--interval", "0.5"],
                env={**env, "TOKA_KAFKA__BOOTSTRAP_SERVERS": bootstrap}, check=True, timeout=60,
            )  # fmt: skip

            def spiked(got: list[object]) -> bool:
                return any(isinstance(a, Alert) and a.status == "firing"
                           and a.labels.get("host") == demo for a in got)  # fmt: skip

            fired = await collect(bootstrap, "toka.alerts", spiked, timeout=60, decode=decode)
            on_topic = time.monotonic()
            assert fired
            row = page.locator("#active-alerts tbody tr", has_text=demo)
            await row.first.wait_for(timeout=REFRESH * 1000 + 1000)
            seen_after = time.monotonic() - on_topic
            assert seen_after <= REFRESH + 1.0
            assert "critical" in (await row.first.inner_text()).lower()
            await snap(page, "overview")

            # the host page draws its CPU chart with points
            await page.goto(url + "#/host/" + demo)
            await page.wait_for_selector("#chart-cpu canvas", timeout=15_000)
            points = await _points(page, "chart-cpu", 0)
            assert points >= 1
            await snap(page, "host")

            # the capacity page draws the prediction band (upper - lower stacked on lower)
            await page.goto(url + "#/capacity")
            await page.wait_for_selector("#forecast-0 canvas", timeout=15_000)
            band = await page.evaluate("""() => {
                const chart = echarts.getInstanceByDom(document.getElementById('forecast-0'));
                const series = chart.getOption().series;
                const band = series.find((s) => s.name === 'prediction interval');
                return band.data.map((p) => p[1]);
            }""")
            assert len(band) == 4 and max(band) > 0
            await snap(page, "capacity")
            for name in ("alerts", "regressions", "widgets", "services"):
                await page.goto(url + "#/" + name)
                await page.wait_for_timeout(1500)
                await snap(page, name)
        finally:
            await browser.close()
    assert not errors, errors
    print(
        f"firing alert on the overview {seen_after:.1f} s after it reached toka.alerts; "
        f"screenshots in {shots}"
    )


async def _points(page, chart_id: str, series: int) -> int:  # type: ignore[no-untyped-def]
    for _ in range(20):
        count = await page.evaluate(f"""() => {{
            const chart = echarts.getInstanceByDom(document.getElementById('{chart_id}'));
            const s = chart && chart.getOption().series[{series}];
            return s ? s.data.filter((p) => p[1] !== null).length : 0;
        }}""")
        if count:
            return int(count)
        await asyncio.sleep(0.5)
    return 0
