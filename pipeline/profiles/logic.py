"""The profiles stage's logic (no Faust): ProfileReport -> ProfileFinding records, over a
WriteBehind state, driven by the analytics loop (pipeline.runtime).

State per partition: ``b|<service>``, the last CPU session's function shares of a
service (what ``became_hot`` compares with); ``r|<session>``, the reports already
analysed. Records of the stage's own topics are not position-tracked by the loop, so a
report replayed after a crash (its effect flushed, its offset not yet committed) is
recognised by its session and not analysed twice: no finding is sent twice and a session
is never its own baseline.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.profiles.analysis import ProfileBaselines, analyse, baseline_key
from pipeline.runtime.analytics_runtime import Finding, Refused
from pipeline.tables import WriteBehind
from schemas import WindowAggregate, encode
from schemas.config.profiling import ProfileAnalysisConfig
from schemas.profiles import ProfileChunk, ProfileFinding, ProfileReport, ProfileStatus

__all__ = ["ProfileLogic"]

#: Records of toka.profiles that are not input: the session's other records, and findings
#: (this stage's own among them: never input again).
_PASSED_OVER = (ProfileStatus, ProfileChunk, ProfileFinding)


class ProfileLogic:
    #: Only the replay guard is dropped when idle (analytics.state_idle_hours); service
    #: baselines stay: sessions are rare, and the last one may be weeks old.
    IDLE_PREFIXES = ("r|",)

    def __init__(self, settings: ProfileAnalysisConfig, state: WriteBehind, topic: object) -> None:
        self.settings, self.state, self.topic = settings, state, topic

    def on_aggregate(self, agg: WindowAggregate, partition: int) -> Iterable[Finding]:
        return []  # the stage reads no aggregate batches

    def on_record(self, record: object, partition: int) -> list[Finding]:
        """A decoded record of toka.profiles; Refused (dead-lettered) if not of it."""
        if isinstance(record, ProfileReport):
            return self.on_report(record, partition)
        if isinstance(record, _PASSED_OVER):
            return []
        err = f"{type(record).__name__} is not an input of the profiles stage"
        raise Refused("unknown_schema", err)

    def on_report(self, report: ProfileReport, partition: int) -> list[Finding]:
        seen = f"r|{report.session}"
        if self.state.get(partition, seen) is not None:
            return []  # replayed: analysed (and its findings sent) before
        if report.kind == "cpu":
            key = f"b|{baseline_key(report)}"
            baselines = self.state.use(partition, key, ProfileBaselines.restore, ProfileBaselines)
        else:  # only CPU sessions become baselines
            baselines = ProfileBaselines()
        found = analyse(baselines, report, self.settings)
        self.state.put(partition, seen, {"ts": report.ts})
        return [Finding(self.topic, f.host.encode(), encode(f), "profile_findings") for f in found]
