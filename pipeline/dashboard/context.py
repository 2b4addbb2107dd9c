"""What every request handler reads: one typed object, stored on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from pipeline.dashboard.actions import Actions
    from pipeline.dashboard.auth import Access
    from pipeline.dashboard.consumer import HistoryConsumer
    from pipeline.dashboard.events import EventHub
    from pipeline.dashboard.store import HistoryStore, Retention
    from schemas.config import TokaConfig

__all__ = ["CONTEXT", "DashboardContext"]


@dataclass
class DashboardContext:
    cfg: TokaConfig
    store: HistoryStore
    hub: EventHub
    actions: Actions
    access: Access
    widgets: list[dict[str, Any]]
    #: The window size the history's rollups and overview read (the shortest configured).
    width: float
    retention: Retention
    consumer: HistoryConsumer | None = None


CONTEXT = web.AppKey("toka_dashboard", DashboardContext)
