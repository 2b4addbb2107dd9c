"""deploy/k8s/profiling: the component that lets py-spy work, and only when it is applied.

The patch is merged as kustomize does (lists of named items by name, others replaced);
where kubectl is installed its own render must agree. The result validates strictly
against the Kubernetes API schemas.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        out_list = [copy.deepcopy(item) for item in base]
        names = [item["name"] for item in out_list]
        for item in patch:
            if item["name"] in names:
                index = names.index(item["name"])
                out_list[index] = _merge(out_list[index], item)
            else:
                out_list.append(item)
        return out_list
    return patch


def _agent(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == "agent")


def _profiled() -> dict[str, Any]:
    base = yaml.safe_load((K8S / "agent-daemonset.yaml").read_text())
    return _merge(base, yaml.safe_load((K8S / "profiling" / "agent-profiling.yaml").read_text()))


def test_profiling_component_validates_and_grants_only_ptrace() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    base = yaml.safe_load((K8S / "agent-daemonset.yaml").read_text())
    profiled = _profiled()
    kv.validate(profiled, "1.30.0", strict=True)

    plain = _agent(base)
    assert plain["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert base["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
    assert "TOKA_PERFORMANCE__PROFILING_ENABLED" not in {e["name"] for e in plain["env"]}

    agent = _agent(profiled)
    context = agent["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    assert context["runAsUser"] == 0 and context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert profiled["spec"]["template"]["spec"]["hostPID"] is True
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert env["TOKA_PERFORMANCE__PROFILING_ENABLED"] == "true"
    assert env["TOKA_AGENT__HOST"] == "$(NODE_NAME)"  # the base's variables are kept
    assert {"/tmp", "/etc/toka", "/var/lib/toka"} <= {m["mountPath"] for m in agent["volumeMounts"]}
    [init] = profiled["spec"]["template"]["spec"]["initContainers"]
    assert "chown -R 0:0" in init["command"][-1] and init["image"] == "busybox:1.36"


def test_profiling_is_off_in_the_shipped_configuration() -> None:
    configmap = yaml.safe_load((K8S / "configmap.yaml").read_text())
    text = next(iter(configmap["data"].values()))
    assert (yaml.safe_load(text).get("performance") or {}).get("profiling_enabled", False) is False


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_the_same_agent(tmp_path: Path) -> None:
    copy_dir = tmp_path / "k8s"
    shutil.copytree(K8S, copy_dir)
    kustomization = copy_dir / "kustomization.yaml"
    text = kustomization.read_text().replace(
        "# components:\n#   - profiling", "components:\n  - profiling"
    )
    kustomization.write_text(text)
    rendered = subprocess.run(["kubectl", "kustomize", str(copy_dir)], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
    daemonset = next(d for d in yaml.safe_load_all(rendered) if d["kind"] == "DaemonSet")
    ours = _profiled()
    assert _agent(daemonset)["securityContext"] == _agent(ours)["securityContext"]
    assert {e["name"] for e in _agent(daemonset)["env"]} == {e["name"] for e in _agent(ours)["env"]}
    spec, our_spec = daemonset["spec"]["template"]["spec"], ours["spec"]["template"]["spec"]
    assert spec["securityContext"] == our_spec["securityContext"]
    assert spec["initContainers"][0]["command"] == our_spec["initContainers"][0]["command"]
