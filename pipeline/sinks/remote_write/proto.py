"""The remote-write wire format: ``prometheus.WriteRequest`` protobuf, snappy block format.

The message types are declared here from Prometheus' ``prompb/types.proto`` and
``prompb/remote.proto`` (the fields remote write 1.0 sends) and built by the protobuf
runtime, which does the encoding. The PyPI packages that ship generated types do not fit:
``opentelemetry-exporter-prometheus-remote-write`` pins protobuf < 7 (this project runs 7
through opentelemetry-proto) and ``prometheus-remote-writer`` pulls in grpcio-tools and
requests. Snappy is ``cramjam`` (raw block format, as the protocol wants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["CONTENT_HEADERS", "WriteRequest", "decode_request", "encode_request"]

#: Headers of remote write 1.0 (the Prometheus receiver checks the version header).
CONTENT_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "toka-remote-write",
}

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="toka/prompb_remote.proto", package="prometheus", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        msg = fd.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    message("Label", [("name", 1, _F.TYPE_STRING, one, ""), ("value", 2, _F.TYPE_STRING, one, "")])
    message(
        "Sample", [("value", 1, _F.TYPE_DOUBLE, one, ""), ("timestamp", 2, _F.TYPE_INT64, one, "")]
    )
    message(
        "TimeSeries",
        [
            ("labels", 1, _F.TYPE_MESSAGE, many, ".prometheus.Label"),
            ("samples", 2, _F.TYPE_MESSAGE, many, ".prometheus.Sample"),
        ],
    )
    message("WriteRequest", [("timeseries", 1, _F.TYPE_MESSAGE, many, ".prometheus.TimeSeries")])
    return fd


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
WriteRequest: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("prometheus.WriteRequest")
)

Series = tuple[Mapping[str, str], list[tuple[int, float]]]


def encode_request(series: Iterable[Series]) -> bytes:
    """Snappy-compressed WriteRequest of ``(labels, [(timestamp_ms, value)...])`` series.

    Labels are sorted by name, as the protocol requires."""
    req = WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name in sorted(labels):
            ts.labels.add(name=name, value=labels[name])
        for timestamp, value in samples:
            ts.samples.add(value=value, timestamp=timestamp)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def decode_request(body: bytes) -> list[Series]:
    """The inverse of ``encode_request`` (tests, and a receiver one might write)."""
    req = WriteRequest()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [
        ({lb.name: lb.value for lb in ts.labels}, [(s.timestamp, s.value) for s in ts.samples])
        for ts in req.timeseries
    ]
