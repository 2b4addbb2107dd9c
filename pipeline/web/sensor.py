"""Count what the worker writes: records per output topic, dead letters by reason, alerts.

A Faust sensor sees every send, so no stage has to remember to count its outputs. Dead
letters and alerts are rare, so decoding them here to read the reason or status costs
nothing that shows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from faust import Sensor
from faust.types import PendingMessage
from faust.types.transports import ProducerT

__all__ = ["OutputSensor", "count_direct_sends"]


class OutputSensor(Sensor):
    def __init__(self, deadletter_topic: str, alerts_topic: str, prefix: str, **kw: Any) -> None:
        super().__init__(**kw)
        self._deadletter, self._alerts, self._prefix = deadletter_topic, alerts_topic, prefix
        self.sent: Counter[str] = Counter()
        #: (source topic without prefix, reason)
        self.dead_letters: Counter[tuple[str, str]] = Counter()
        #: (status, severity)
        self.alerts: Counter[tuple[str, str]] = Counter()
        self.rebalances = 0

    def on_send_initiated(
        self,
        producer: ProducerT,
        topic: str,
        message: PendingMessage,
        keysize: int,
        valsize: int,
    ) -> Any:
        self.sent[topic] += 1
        if topic == self._deadletter:
            record = _fields(message.value)
            source = str(record.get("source_topic", "?")).removeprefix(self._prefix)
            self.dead_letters[(source, str(record.get("reason", "unknown")))] += 1
        elif topic == self._alerts:
            record = _fields(message.value)
            labels = record.get("labels") or {}
            severity = labels.get("severity", "") if isinstance(labels, dict) else ""
            self.alerts[(str(record.get("status", "unknown")), str(severity))] += 1
        return None

    def on_rebalance_start(self, app: Any) -> dict:
        self.rebalances += 1
        return {}


def count_direct_sends(app: Any, topic: str, n: int) -> None:
    """Count records a stage produced straight through the transport producer (which, for
    speed, skips Faust's topic layer and so its sensors)."""
    for sensor in app.sensors:
        if isinstance(sensor, OutputSensor):
            sensor.sent[topic] += n


def _fields(value: Any) -> dict[str, Any]:
    try:
        out = orjson.loads(value)
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return out if isinstance(out, dict) else {}
