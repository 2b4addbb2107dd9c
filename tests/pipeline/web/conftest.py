"""A real Prometheus (Debian's package) running the deploy example config, per test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.broker import free_port
from tests.pipeline.web.helpers import Prometheus, http_get, wait_until

PROMETHEUS = shutil.which("prometheus")
DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Prometheus]]:
    """``start({job: "host:port"})``: Prometheus running deploy/prometheus/prometheus.yml,
    with its rules, every second, each job's targets replaced by the given one."""
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(targets: dict[str, str]) -> Prometheus:
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(deploy_prometheus_config(targets)))
        port = free_port()
        log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{url}/-/ready")[0] == 200, 20, "prometheus ready")
        return Prometheus(url)

    try:
        yield start
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def deploy_prometheus_config(targets: dict[str, str]) -> dict[str, Any]:
    """The example config, made to run here: 1 s intervals, no Alertmanager, the rule
    file by absolute path, and only the given jobs, each with its one target."""
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s",
                        "evaluation_interval": "1s"}  # fmt: skip
    config.pop("alerting", None)
    config["rule_files"] = [str(DEPLOY / "prometheus" / f) for f in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(targets) <= set(jobs), f"no such job in the example: {set(targets) - set(jobs)}"
    for name, target in targets.items():
        jobs[name]["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = [jobs[name] for name in targets]
    return config
