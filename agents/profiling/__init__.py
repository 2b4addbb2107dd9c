"""Profiling sessions run by the agent on request (toka profile start|stop).

Nothing here imports faust or the pipeline; the session modules (py-spy runner, memory
readings, report building) load only when a session starts, so an idle agent pays for
the command listener alone. ``agents.profiling.sdk`` is the helper a Python service
imports to offer tracemalloc snapshots.
"""

__all__: list[str] = []
