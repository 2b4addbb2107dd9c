"""The local baseline file of ``toka bench``: one pooled RunBaseline per benchmark.

CI keeps this file between runs (a cache or an artifact); the same judgement as the
regression stage (``judge_run``) decides whether a run regressed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.regressions.detector import Finding
from pipeline.regressions.runs import RunBaseline, RunParams, judge_run
from schemas.analytics import BenchmarkResult
from schemas.config.analytics import BenchConfig

__all__ = ["BaselineFile", "Verdict"]


class Verdict:
    def __init__(self, result: BenchmarkResult, base: RunBaseline, finding: Finding | None):
        self.result = result
        self.baseline_runs = base.runs
        self.baseline_samples = list(base.samples)
        self.finding = finding

    @property
    def regressed(self) -> bool:
        return self.finding is not None and self.finding.direction == "regression"


class BaselineFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, RunBaseline] = {}
        if path.exists():
            data = json.loads(path.read_text())
            self.entries = {k: RunBaseline.restore(v) for k, v in data.items()}

    def judge(self, result: BenchmarkResult, bc: BenchConfig) -> Verdict:
        base = self.entries.setdefault(result.benchmark, RunBaseline())
        before = RunBaseline.restore(base.snapshot())
        params = RunParams(
            p_value=bc.p_value,
            min_effect_percent=bc.min_effect_percent,
            higher_is_better=result.higher_is_better,
        )
        finding = judge_run(base, result.samples, result.version, params)
        return Verdict(result, before, finding)

    def reset(self, name: str) -> bool:
        return self.entries.pop(name, None) is not None

    def pin(self, name: str, pinned: bool) -> bool:
        if name not in self.entries:
            return False
        self.entries[name].pinned = pinned
        return True

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v.snapshot() for k, v in self.entries.items()}, indent=1))
        os.replace(tmp, self.path)  # atomic: a killed run never leaves half a file
