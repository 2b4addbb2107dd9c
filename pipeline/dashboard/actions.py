"""What the dashboard writes to Kafka: baseline commands and audit records.

A baseline command is the very record ``toka baseline pin|unpin|reset`` sends, to the same
topic with the same key, so the regression stage cannot tell them apart.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from schemas import encode, new_id
from schemas.analytics import BaselineCommand
from schemas.config import TokaConfig

__all__ = ["Actions"]

log = logging.getLogger(__name__)


class Actions:
    def __init__(self, cfg: TokaConfig) -> None:
        self._cfg = cfg
        self._producer: AIOKafkaProducer | None = None
        self.audit_failures = 0

    async def start(self) -> None:
        """Connect now if Kafka answers; if not, the first action connects (the dashboard
        serves its history without Kafka)."""
        try:
            await self._ready()
        except KafkaConnectionError as exc:
            log.warning("dashboard: Kafka unreachable (%s); baseline changes and audit "
                        "records will connect when first needed", exc)  # fmt: skip

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**self._cfg.kafka.client_options(), acks="all")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def baseline(self, subject: str, action: str) -> None:
        from pipeline.regressions.stage import command_topic

        cmd = BaselineCommand(id=new_id(), ts=time.time(), action=action, subject=subject)  # type: ignore[arg-type]
        producer = await self._ready()
        await producer.send_and_wait(command_topic(self._cfg), encode(cmd),
                                     key=subject.encode())  # fmt: skip

    async def audit(self, record: dict[str, Any]) -> None:
        """One audit record to the ``audit`` topic, keyed by actor; a failure is counted
        and logged (the JSON-lines file already holds the record)."""
        try:
            producer = await self._ready()
            await producer.send_and_wait(
                self._cfg.kafka.topic("audit"), orjson.dumps(record),
                key=str(record.get("actor", "")).encode(),
            )  # fmt: skip
        except Exception as exc:
            self.audit_failures += 1
            log.warning("audit record not sent to Kafka: %s", exc)
