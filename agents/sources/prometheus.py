"""Scrape Prometheus text / OpenMetrics endpoints with prometheus_client's parsers.

``parse_exposition`` is pure: text in, samples out. Counters stay counters, histograms become
one sample per label set with their cumulative buckets, summaries keep their quantiles.
A target that is down or returns garbage yields ``up=0`` with the reason logged; the
others, and the agent's other sources, carry on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.ratelog import RateLimitedLog
from schemas.records import Sample

__all__ = ["PrometheusSource", "ScrapeTarget", "parse_exposition"]

log = logging.getLogger("toka.agent.prometheus")

ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    url: str
    job: str = "prometheus"
    labels: dict[str, str] = field(default_factory=dict)
    honor_labels: bool = False
    authorization: str | None = field(default=None, repr=False)  # the header's value

    @property
    def instance(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.url).netloc


def _families(text: str, openmetrics: bool) -> Iterable[Any]:
    if openmetrics:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families(text)


def parse_exposition(
    text: str,
    target_labels: dict[str, str],
    openmetrics: bool = False,
    honor_labels: bool = False,
    on_bad_family: Callable[[str, Exception], None] | None = None,
) -> list[Sample]:
    """Samples of one scrape. Raises ValueError on text that is not an exposition; a family
    the parser accepts but that makes no sense (a bucket without ``le``) is left out and
    reported to ``on_bad_family``, so it costs only itself."""
    out: list[Sample] = []
    for fam in _families(text, openmetrics):
        try:
            out += _family(fam, target_labels, honor_labels)
        except (KeyError, TypeError, ValueError) as exc:
            if on_bad_family is None:
                raise
            on_bad_family(fam.name, exc)
    return out


def _family(fam: Any, target_labels: dict[str, str], honor_labels: bool) -> list[Sample]:
    out: list[Sample] = []
    if fam.type in ("histogram", "gaugehistogram"):
        return _histograms(fam, target_labels, honor_labels)
    kind = "counter" if fam.type == "counter" else "gauge"
    for s in fam.samples:
        # Creation timestamps are not values; JSON has no NaN/Inf, so those are skipped.
        if s.name.endswith("_created") or not math.isfinite(s.value):
            continue
        sample_kind = kind
        if fam.type == "summary" and s.name.endswith(("_sum", "_count")):
            sample_kind = "counter"
        out.append(
            Sample(
                name=s.name,
                value=float(s.value),
                type=sample_kind,  # type: ignore[arg-type]
                labels=_merge(target_labels, s.labels, honor_labels),
                ts=float(s.timestamp) if s.timestamp is not None else None,
            )
        )
    return out


def _merge(target: dict[str, str], exposed: dict[str, str], honor: bool) -> dict[str, str]:
    """Prometheus's rule: the target's labels win and a clashing exposed label is kept as
    ``exported_<name>``; with ``honor_labels`` the exposed ones win."""
    if honor:
        return {**target, **exposed}
    out = dict(exposed)
    for k, v in target.items():
        if k in out and out[k] != v:
            out[f"exported_{k}"] = out[k]
        out[k] = v
    return out


def _histograms(fam: Any, target_labels: dict[str, str], honor: bool) -> list[Sample]:
    series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for s in fam.samples:
        labels = {k: v for k, v in s.labels.items() if k != "le"}
        h = series.setdefault(tuple(sorted(labels.items())), {"buckets": [], "labels": labels})
        if s.name.endswith("_bucket"):
            if math.isfinite(s.value):  # JSON has no NaN: a NaN bucket is left out
                h["buckets"].append((float(s.labels["le"]), float(s.value)))
        elif s.name.endswith(("_sum", "_gsum")):
            if math.isfinite(s.value):
                h["sum"] = float(s.value)
        elif s.name.endswith(("_count", "_gcount")):
            h["count"] = float(s.value)
    out = []
    for h in series.values():
        buckets = sorted(h["buckets"])
        count = h.get("count", buckets[-1][1] if buckets else 0.0)
        if not math.isfinite(count):
            continue
        out.append(
            Sample(
                name=fam.name,
                value=float(count),
                type="histogram",
                labels=_merge(target_labels, h["labels"], honor),
                # The +Inf bucket is implied by ``value`` (schema: JSON has no infinity).
                buckets=[(le, c) for le, c in buckets if math.isfinite(le)],
                sum=h.get("sum"),
            )
        )
    return out


class PrometheusSource:
    name = "prometheus"

    def __init__(self, targets: list[ScrapeTarget], interval: float = 15.0, timeout: float = 5.0):
        self.targets = targets
        self.interval = interval
        self.timeout = timeout
        self._session: Any = None
        self._log = RateLimitedLog(log)

    async def collect(self) -> list[Sample]:
        # One target's failure, whatever it is, costs only that target's samples.
        results = await asyncio.gather(
            *(self._scrape(t) for t in self.targets), return_exceptions=True
        )
        out: list[Sample] = []
        for target, result in zip(self.targets, results, strict=True):
            if isinstance(result, BaseException):
                self._log.log(logging.ERROR, target.url, "scrape %s: %r", target.url, result)
                out += self._status(target, [], 0.0, 0.0, 0)
            else:
                out += result
        return out

    async def _scrape(self, target: ScrapeTarget) -> list[Sample]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout), headers={"Accept": ACCEPT}
            )
        labels = self._labels(target)
        t0 = time.perf_counter()
        bad: list[str] = []

        def on_bad(family: str, exc: Exception) -> None:
            bad.append(family)
            self._log.log(logging.WARNING, f"{target.url}:{family}",
                          "scrape %s: family %s left out: %r", target.url, family, exc)  # fmt: skip

        try:
            auth = {"Authorization": target.authorization} if target.authorization else None
            async with self._session.get(target.url, headers=auth) as resp:
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                text = await resp.text()
                om = resp.headers.get("Content-Type", "").startswith("application/openmetrics-text")
            samples = await asyncio.to_thread(
                parse_exposition, text, labels, om, target.honor_labels, on_bad
            )
            up = 1.0
        except (aiohttp.ClientError, TimeoutError, ValueError, UnicodeDecodeError) as exc:
            reason = str(exc) or type(exc).__name__
            self._log.log(logging.WARNING, target.url, "scrape %s failed: %s", target.url, reason)
            samples, up = [], 0.0
        return self._status(target, samples, up, time.perf_counter() - t0, len(bad))

    @staticmethod
    def _labels(target: ScrapeTarget) -> dict[str, str]:
        return {"job": target.job, "instance": target.instance, **target.labels}

    def _status(
        self, target: ScrapeTarget, samples: list[Sample], up: float, took: float, bad: int
    ) -> list[Sample]:
        labels = self._labels(target)
        return [
            *samples,
            Sample(name="up", value=up, labels=labels),
            Sample(name="scrape_duration_seconds", value=took, labels=labels),
            Sample(name="scrape_samples_scraped", value=float(len(samples)), labels=labels),
            # Families the target exposed that made no sense (left out, not the scrape).
            Sample(name="scrape_families_dropped", value=float(bad), labels=labels),
        ]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
