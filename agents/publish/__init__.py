"""Getting records off the host: bounded queue, disk spool, Kafka."""

from agents.publish.publisher import OutRecord, Publisher

__all__ = ["OutRecord", "Publisher"]
