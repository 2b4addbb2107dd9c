"""deploy/: every example parses, and the tools that own each format accept it.

YAML and JSON files parse; systemd units pass `systemd-analyze verify`; Prometheus
configs pass `promtool check config` (rules included); Alertmanager configs pass
`amtool check-config`; the configuration carried by the compose file and the Kubernetes
ConfigMap (with each container's TOKA_ variables) passes Toka's own validation, and the
probes and scrape annotations point at the ports that configuration sets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.alerts import load_rules
from schemas.config import load_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})
JSON_FILES = sorted(DEPLOY.rglob("*.json"))
K8S_MANIFESTS = sorted(set((DEPLOY / "k8s").glob("*.yaml")) - {DEPLOY / "k8s/kustomization.yaml"})
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
PROMETHEUS_CONFIGS = [DEPLOY / "prometheus/prometheus.yml", DEPLOY / "compose/prometheus.yml"]
ALERTMANAGER_CONFIGS = [DEPLOY / "alertmanager/alertmanager.yml",
                        DEPLOY / "compose/alertmanager.yml"]  # fmt: skip


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _rel(p: Path) -> str:
    return str(p.relative_to(DEPLOY))


@pytest.mark.parametrize("path", YAML_FILES, ids=_rel)
def test_yaml_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


@pytest.mark.parametrize("path", JSON_FILES, ids=_rel)
def test_json_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    assert {u.name for u in UNITS} == {"toka-worker.service", "toka-agent.service"}
    # verify insists that ExecStart's binary exists: point /opt/toka/bin at this venv.
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        assert re.search(r"^StateDirectory=toka$", text, re.M), unit.name
        assert re.search(r"^User=toka$", text, re.M), unit.name
        copy = tmp_path / unit.name
        copy.write_text(text.replace("/opt/toka/bin/", str(Path(sys.executable).parent) + "/"))
        copies.append(copy)
    done = subprocess.run([analyze, "verify", *map(str, copies)],
                          check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    if done.returncode != 0 and "Failed to" in done.stderr and "toka" not in done.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {done.stderr.strip()[:200]}")
    # Unknown keys and bad values are only warnings: any line about our units fails.
    ours = [line for line in done.stderr.splitlines() if "toka" in line]
    assert done.returncode == 0 and not ours, done.stderr


@pytest.mark.parametrize("path", PROMETHEUS_CONFIGS, ids=_rel)
def test_promtool_accepts_prometheus_config(path: Path) -> None:
    done = subprocess.run([_tool("promtool"), "check", "config", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "toka-self-alerts.yml" in done.stdout and "SUCCESS: 9 rules found" in done.stdout


def test_findings_alert_rules_pass_their_unit_tests() -> None:
    """Regressions, anomalies, leak suspects and capacity forecasts page through
    Prometheus' own rules on the remote-written findings, and clear when they should."""
    done = subprocess.run([_tool("promtool"), "test", "rules", "toka-findings-alerts.test.yml"],
                          cwd=DEPLOY / "prometheus", check=False, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_promtool_accepts_kubernetes_scrape_config() -> None:
    path = DEPLOY / "k8s/prometheus-scrape.yml"
    done = subprocess.run([_tool("promtool"), "check", "config", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    if "field kubernetes_sd_configs not found" in done.stdout + done.stderr:
        pytest.skip("this promtool is built without Kubernetes discovery (Debian's is)")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", ALERTMANAGER_CONFIGS, ids=_rel)
def test_amtool_accepts_alertmanager_config(path: Path) -> None:
    done = subprocess.run([_tool("amtool"), "check-config", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _env(container: dict[str, Any]) -> dict[str, str]:
    """A container's TOKA_ variables, with $(X) references given a stand-in value."""
    out = {}
    for var in container.get("env", []):
        if var["name"].startswith("TOKA_") and "value" in var:
            out[var["name"]] = re.sub(r"\$\((\w+)\)", "10.0.0.1", var["value"])
    return out


def _k8s(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()))


def test_kubernetes_config_and_rules_validate_and_probes_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cm,) = _k8s("configmap.yaml")
    (tmp_path / "toka.yaml").write_text(cm["data"]["toka.yaml"])
    (tmp_path / "toka-rules.yaml").write_text(cm["data"]["toka-rules.yaml"])
    base = load_config(tmp_path / "toka.yaml")
    assert str(base.pipeline.rules_file) == "/etc/toka/toka-rules.yaml"  # the mount below
    rules = load_rules(tmp_path / "toka-rules.yaml", base.monitoring.thresholds)
    assert rules is not None

    deployment = _k8s("worker-deployment.yaml")[0]
    (daemonset,) = _k8s("agent-daemonset.yaml")
    for workload in (deployment, daemonset):
        pod = workload["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert {"name": "config", "configMap": {"name": "toka-config"}} in pod["spec"]["volumes"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["config"] == "/etc/toka"
        for key, value in _env(container).items():
            monkeypatch.setenv(key, value)
        cfg = load_config(tmp_path / "toka.yaml")
        for key in _env(container):
            monkeypatch.delenv(key)
        if workload is deployment:
            port = cfg.pipeline.web_port
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["ports"][0]["containerPort"] == port
        else:
            port = cfg.agent.http.port
            assert cfg.agent.http.host == "10.0.0.1"  # the node's address, not loopback
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)

    (exporter,) = _k8s("remote-write-deployment.yaml")
    (container,) = exporter["spec"]["template"]["spec"]["containers"]
    for key, value in _env(container).items():
        monkeypatch.setenv(key, value)
    rw = load_config(tmp_path / "toka.yaml").remote_write
    assert rw.enabled and rw.url and rw.web_bind == "0.0.0.0"
    assert container["ports"][0]["containerPort"] == rw.web_port
    assert exporter["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(
        rw.web_port
    )

    kustomization = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())
    listed = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == listed


def test_compose_services_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((DEPLOY / "compose/compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "worker", "agent", "prometheus", "alertmanager"} <= set(services)
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    for name in ("worker", "agent"):
        service = services[name]
        # container path -> file in deploy/compose (volumes read HOST:CONTAINER:ro)
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]
                  if v.startswith("..")}  # fmt: skip
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, str(value))
        cfg = load_config(DEPLOY / "compose" / mounts["/etc/toka/toka.yaml"])
        for key in service["environment"]:
            monkeypatch.delenv(key)
        assert cfg.kafka.bootstrap_servers == "kafka:9092"
        if name == "worker":
            rules = mounts[str(cfg.pipeline.rules_file)]
            assert load_rules(DEPLOY / "compose" / rules, cfg.monitoring.thresholds)
            assert cfg.pipeline.alertmanager_urls == ["http://alertmanager:9093"]


def test_grafana_dashboard_queries_worker_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/toka-worker.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and all("toka_worker_" in e for e in exprs)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _systemd_env(unit: Path) -> dict[str, str]:
    pairs = re.findall(r"^Environment=(\w+)=(\S*)$", unit.read_text(), re.M)
    return dict(pairs)


@pytest.mark.parametrize("source", ["k8s", "systemd"])
def test_worker_web_bind_reaches_faust(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples open the web server with TOKA_PIPELINE__WEB_BIND; it must reach Faust,
    and Faust's own unprefixed variables (WEB_BIND, WEB_PORT...) must not."""
    from pipeline.app import create_app

    if source == "k8s":
        (container,) = _k8s("worker-deployment.yaml")[0]["spec"]["template"]["spec"]["containers"]
        env = {v["name"]: v["value"] for v in container["env"] if "value" in v}
    else:
        env = _systemd_env(DEPLOY / "systemd/toka-worker.service")
    assert env["TOKA_PIPELINE__WEB_BIND"] == "0.0.0.0"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WEB_BIND", "192.0.2.7")  # Faust's own spelling: ignored
    monkeypatch.setenv("WEB_PORT", "tcp://10.0.0.1:80")  # a Service link named `web`
    app = create_app(load_config(None), stages=[])
    assert app.conf.web_bind == "0.0.0.0"
    assert app.conf.web_port == 6066
    if "TOKA_PIPELINE__DATA_DIR" in env:
        assert str(app.conf.datadir).startswith(env["TOKA_PIPELINE__DATA_DIR"])


K8S_MANIFESTS = [
    p for p in sorted((DEPLOY / "k8s").glob("*.yaml")) if p.name != "kustomization.yaml"
]


@pytest.mark.parametrize("path", K8S_MANIFESTS, ids=_rel)
def test_kubernetes_manifests_validate_against_the_api_schemas(path: Path) -> None:
    """Strict: a misspelt field fails, as `kubectl apply --validate=strict` would."""
    kv = pytest.importorskip("kubernetes_validate")
    for doc in yaml.safe_load_all(path.read_text()):
        kv.validate(doc, "1.30.0", strict=True)  # the examples need nothing newer
