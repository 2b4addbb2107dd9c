"""Reads ``toka.profile-commands`` from its latest offset and hands this host's commands on.

No consumer group and no committed offsets: every agent reads every partition from the end
as of its start, so a command sent before the agent (re)started never runs; commands also
expire. Commands are keyed by host, and other hosts' commands are skipped on the key alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from agents.ratelog import RateLimitedLog
from schemas.codec import decode
from schemas.errors import DecodeError
from schemas.profiles import ProfileCommand

__all__ = ["CommandListener"]

log = logging.getLogger("toka.agent.profiling")

_RETRY_SECONDS = 5.0


class CommandListener:
    def __init__(
        self,
        client_options: dict[str, Any],
        topic: str,
        host: str,
        on_command: Callable[[ProfileCommand], None],
        on_undecodable: Callable[[], None] = lambda: None,
    ) -> None:
        self._options, self._topic, self._host = client_options, topic, host
        self._key = host.encode()
        self._on_command = on_command
        self._on_undecodable = on_undecodable
        self.ready = asyncio.Event()  # set once positioned at the end of every partition
        self.undecodable = 0
        self._log = RateLimitedLog(log)

    async def run(self) -> None:
        """Runs until cancelled; a broker outage or a missing topic is retried, never fatal."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried; the agent keeps collecting
                self._log.log(logging.WARNING, "listen", "toka agent: profiling commands: %r; "
                              "retrying in %ss", exc, _RETRY_SECONDS)  # fmt: skip
            await asyncio.sleep(_RETRY_SECONDS)

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            **self._options, group_id=None, enable_auto_commit=False, auto_offset_reset="latest"
        )
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                raise LookupError(f"topic {self._topic} does not exist yet")
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)  # resolves the seek now, before ready
            self.ready.set()
            log.info("toka agent: listening for profiling commands on %s", self._topic)
            async for message in consumer:
                if message.key != self._key or message.value is None:
                    continue
                try:
                    command = decode(message.value, ProfileCommand)
                except DecodeError as exc:
                    self.undecodable += 1
                    self._on_undecodable()
                    self._log.log(logging.WARNING, "decode", "toka agent: undecodable profiling "
                                  "command at offset %s: %s", message.offset, exc)  # fmt: skip
                    continue
                self._on_command(command)
        finally:
            self.ready.clear()
            await consumer.stop()
