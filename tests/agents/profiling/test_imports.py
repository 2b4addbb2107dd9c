"""Profiling code stays light: the agent's side never loads the pipeline, faust or
statsmodels; the SDK a service imports loads nothing beyond the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
AGENT_SIDE = ["service", "sessions", "listener", "cpu", "memory", "report", "stacks", "policy"]

_PROBE = """
import json, sys
{imports}
print(json.dumps(sorted(sys.modules)))
"""


def _modules(imports: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(imports=imports)], cwd=ROOT,
                         check=True, capture_output=True, text=True, timeout=60)  # fmt: skip
    return json.loads(out.stdout)


def test_agent_side_never_imports_the_pipeline() -> None:
    loaded = _modules("\n".join(f"import agents.profiling.{m}" for m in AGENT_SIDE))
    heavy = [m for m in loaded if m.split(".")[0] in ("faust", "statsmodels", "pipeline")]
    assert heavy == []
    assert "agents.profiling.cpu" in loaded  # the probe did import them


def test_sdk_imports_only_the_standard_library() -> None:
    loaded = _modules("import agents.profiling.sdk")
    ours = sorted(m for m in loaded if m.split(".")[0] in ("agents", "schemas", "pipeline"))
    assert ours == ["agents", "agents.profiling", "agents.profiling.sdk"]
    third_party = {"msgspec", "orjson", "aiokafka", "psutil", "pydantic", "prometheus_client"}
    assert not third_party & {m.split(".")[0] for m in loaded}
