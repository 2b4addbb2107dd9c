"""The Kafka edge: an aiokafka producer that can be (re)started after an outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agents.errors import KafkaUnavailableError, RecordRejectedError

if TYPE_CHECKING:
    from agents.publish.publisher import OutRecord

__all__ = ["KafkaSink", "available_compression", "describe", "producer_options"]

log = logging.getLogger("toka.agent.kafka")


def producer_options(
    client_options: dict[str, Any],
    *,
    compression: str = "zstd",
    request_timeout_s: float = 10.0,
    linger_ms: int = 5,
    max_record_bytes: int = 1024 * 1024,
    retry_backoff_s: float = 0.5,
) -> dict[str, Any]:
    """aiokafka producer kwargs: acks=all, compression, bounded waits.

    Idempotence stays off: the embedded broker has no InitProducerId, and consumers
    deduplicate on the record id anyway (at-least-once).
    """
    return {
        **client_options,
        "acks": "all",
        "enable_idempotence": False,
        "compression_type": available_compression(compression),
        "request_timeout_ms": int(request_timeout_s * 1000),
        "linger_ms": linger_ms,
        "max_request_size": max_record_bytes + 64 * 1024,
        "retry_backoff_ms": int(retry_backoff_s * 1000),
        "client_id": "toka-agent",
    }


def available_compression(wanted: str) -> str | None:
    """``wanted`` if this host's aiokafka can do it, else the best it can (zstd, lz4, gzip):
    an agent must start everywhere, and every Kafka consumer reads all four."""
    if wanted == "none":
        return None
    from aiokafka import codec

    order = [wanted] + [c for c in ("zstd", "lz4", "gzip") if c != wanted]
    for name in order:
        if getattr(codec, f"has_{name}", lambda: False)():
            if name != wanted:
                log.warning("compression %s is not available here; using %s", wanted, name)
            return name
    return None


# Errors about the record itself: sending it again can never succeed. Everything else,
# aiokafka's own "non-retriable" KafkaTimeoutError, BrokerNotAvailableError, ProducerClosed
# or an authorization failure an operator will fix, keeps the record (queue or spool).
_POISON = (
    "MessageSizeTooLargeError", "RecordTooLargeError", "RecordListTooLargeError",
    "CorruptRecordException", "InvalidMessageError", "InvalidTopicError",
    "InvalidTimestampError", "UnsupportedForMessageFormatError",
)  # fmt: skip


def _is_poison(exc: BaseException) -> bool:
    """A non-retriable error about the record itself (too large, corrupt, invalid topic)."""
    import aiokafka.errors

    poison = tuple(getattr(aiokafka.errors, name) for name in _POISON)
    return isinstance(exc, poison)


def describe(options: dict[str, Any]) -> str:
    """Where and how we connect, for error messages (never the password)."""
    proto = options.get("security_protocol", "PLAINTEXT")
    text = f"{options.get('bootstrap_servers')} ({proto}"
    if proto.startswith("SASL"):
        text += f", {options.get('sasl_mechanism')} as {options.get('sasl_plain_username')!r}"
    return text + ")"


def _hint(options: dict[str, Any]) -> str:
    # aiokafka reports a refused SASL handshake or TLS failure only as "Unable to bootstrap";
    # say what to check.
    proto = options.get("security_protocol", "PLAINTEXT")
    if proto.startswith("SASL"):
        return "; check that the broker enables this SASL mechanism and the credentials"
    if proto == "SSL":
        return "; check the broker's TLS listener, the CA file and the certificate's host name"
    return ""


class KafkaSink:
    """Sends records in order, all or raise. A failure discards the producer so the next
    attempt starts from a fresh connection (a restarted broker may have lost its topics)."""

    def __init__(self, options: dict[str, Any], timeout_s: float = 10.0) -> None:
        self._options = options
        self._timeout = timeout_s
        self._producer: Any = None
        self.where = describe(options)

    async def _ensure(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(**self._options)
            try:
                await asyncio.wait_for(producer.start(), self._timeout)
            except Exception as exc:
                await _quiet_stop(producer)
                raise KafkaUnavailableError(
                    f"cannot connect to Kafka at {self.where}: {exc!r}{_hint(self._options)}"
                ) from exc
            self._producer = producer
        return self._producer

    async def send(self, records: Sequence[OutRecord]) -> int:
        """Send ``records`` in order; all acked, or raise with how many were, in order."""
        producer = await self._ensure()
        futures = []
        refused: BaseException | None = None
        for r in records:
            try:
                futures.append(await producer.send(r.topic, r.value, key=r.key))
            except Exception as exc:  # noqa: BLE001 - refused before sending (e.g. too large)
                refused = exc
                break
        acked = 0
        failure: BaseException | None = None
        for fut in futures:
            if failure is not None:
                fut.cancel()  # after a failure: these are sent again (or were; ids dedupe)
                continue
            try:
                await asyncio.wait_for(fut, self._timeout)
                acked += 1
            except Exception as exc:  # noqa: BLE001 - classified below
                failure = exc
        failure = failure or refused  # the records before a refused one still count
        if failure is None:
            return acked
        if _is_poison(failure):
            # This one record can never be sent; retrying it would block all behind it.
            raise RecordRejectedError(f"record refused: {failure!r}", acked=acked) from failure
        await self.reset()
        raise KafkaUnavailableError(f"send failed: {failure!r}", acked=acked) from failure

    async def reset(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _quiet_stop(producer)

    async def close(self) -> None:
        await self.reset()


async def _quiet_stop(producer: Any) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 1.5)  # within the stop margin of the runtime
    except Exception as exc:  # noqa: BLE001 - stopping a producer whose broker is gone
        log.debug("producer stop: %r", exc)
