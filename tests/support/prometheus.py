"""A real Prometheus (Debian's package) as a remote-write receiver, and range queries."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["PROMETHEUS", "ReceiverPrometheus"]

PROMETHEUS = shutil.which("prometheus")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class ReceiverPrometheus:
    """``prometheus --web.enable-remote-write-receiver`` on ``port`` (started by ``start``)."""

    def __init__(
        self, tmp: Path, port: int, rule_files: list[Path] | None = None,
        alertmanager: str | None = None,
    ) -> None:  # fmt: skip
        """``rule_files`` evaluated every second; alerts sent to ``alertmanager`` (host:port)."""
        assert PROMETHEUS is not None
        self.tmp, self.port = tmp, port
        self.rule_files, self.alertmanager = rule_files or [], alertmanager
        self.url = f"http://127.0.0.1:{port}"
        self.write_url = f"{self.url}/api/v1/write"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ReceiverPrometheus:
        config = self.tmp / "prometheus.yml"
        import yaml

        doc: dict[str, Any] = {
            "global": {"scrape_interval": "15s", "evaluation_interval": "1s"},
            "rule_files": [str(f) for f in self.rule_files],
        }
        if self.alertmanager:
            doc["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": [self.alertmanager]}]}]}  # fmt: skip
        config.write_text(yaml.safe_dump(doc))
        with open(self.tmp / "prometheus.log", "ab") as log:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", "--web.enable-remote-write-receiver",
                 f"--storage.tsdb.path={self.tmp / 'prom-data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 # Firing alerts are re-sent every second, not every minute: the first
                 # send can beat the discovery of the Alertmanager and be dropped.
                 "--rules.alert.resend-delay=1s"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if _get(f"{self.url}/-/ready")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, path: str, **params: Any) -> Any:
        status, body = _get(f"{self.url}{path}?{urllib.parse.urlencode(params)}")
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", doc
        return doc["data"]

    def query_range(
        self, promql: str, start: float, end: float, step: float = 1.0
    ) -> dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]:
        """{sorted labels with __name__: [(t, value)...]}."""
        data = self.api("/api/v1/query_range", query=promql, start=start, end=end, step=step)
        return {
            tuple(sorted(r["metric"].items())): [(float(t), float(v)) for t, v in r["values"]]
            for r in data["result"]
        }

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        return list(self.api("/api/v1/query", **params)["result"])
