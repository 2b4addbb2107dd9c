"""One HTTP security layer for every listener: bearer token, rate limits, body and
connection limits, read and idle timeouts (settings: ``schemas.config.endpoint``).

``policy`` is the shared pure core; ``aio`` applies it to aiohttp servers (worker web,
dashboard) and ``threaded`` to the agent's standard-library servers, /metrics and OTLP
(which keep aiohttp out of the agent). Import the adapter you need from its module.
"""

from agents.endpoint.policy import EndpointPolicy, Refusal, is_loopback, read_token

__all__ = ["EndpointPolicy", "Refusal", "is_loopback", "read_token"]
