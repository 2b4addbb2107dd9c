"""The host collector agent: sources -> redaction and limits -> publisher (queue, spool, Kafka).

Never imports faust, statsmodels or pipeline.*: it runs on every host and must stay light.
Submodules import their own heavy dependencies (aiohttp, aiokafka, protobuf) lazily.
"""

__all__: list[str] = []
