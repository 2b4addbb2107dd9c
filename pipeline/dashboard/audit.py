"""The audit log: who did what, when, from where, and how it ended.

Every change (baseline commands, logins, logouts) and every refusal (401, 403, 429) is one
JSON line in ``dashboard.auth.audit_file`` and one record on the ``audit`` topic, keyed by
actor. Reads that succeed are not audited (the API is polled every few seconds).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from pipeline.dashboard.actions import Actions

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, path: Path, actions: Actions | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._actions = actions
        self._tasks: set[asyncio.Task[None]] = set()
        self.records = 0

    def record(self, *, actor: str, role: str, action: str, target: str, remote: str,
               outcome: int, reason: str = "") -> dict[str, Any]:  # fmt: skip
        entry = {
            "ts": time.time(), "actor": actor, "role": role, "action": action,
            "target": target, "remote": remote, "outcome": outcome,
            "result": "allowed" if outcome < 400 else "denied", "reason": reason,
        }  # fmt: skip
        with self.path.open("ab") as out:
            out.write(orjson.dumps(entry) + b"\n")
        self.records += 1
        if self._actions is not None:
            task = asyncio.get_running_loop().create_task(self._actions.audit(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return entry

    async def flush(self) -> None:
        """Wait for the records still on their way to Kafka."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
