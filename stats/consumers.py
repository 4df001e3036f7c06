"""The WebSocket of an open statistics dashboard: authenticates, then nudges the page (a small JSON
message) whenever its figures may have moved; the page re-reads its own URL. See stats.live for
where the nudges come from."""

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from accounts import socket_access
from accounts.socket_access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from stats import live
from worklist import live_hub
from worklist.models import Study

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_UNAUTHENTICATED", "StatsConsumer", "websocket_urlpatterns"]

logger = logging.getLogger(__name__)


class StatsConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = await socket_access.admit(self, "view_stats")
        if user is None:
            return
        self.site_ids: set[int] | None = await database_sync_to_async(user.site_ids)()
        if not await socket_access.join_groups(self, user, live.STATS_GROUP):
            return
        await live_hub.hub().ready()
        self.newest = await live.newest_rows()
        await self.accept()
        live_hub.hub().join(self)
        self.watcher = asyncio.get_running_loop().create_task(self.watch_new_rows())

    async def disconnect(self, code: int) -> None:
        live_hub.hub().leave(self)
        watcher = getattr(self, "watcher", None)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def watch_new_rows(self) -> None:
        while True:
            await asyncio.sleep(live.poll_seconds())
            try:
                newest = await live.newest_rows()
            except Exception:  # the database away for a moment: try again next round
                logger.exception("stats dashboard check failed")
                continue
            if newest != self.newest:
                self.newest = newest
                await self.nudge("decision")

    async def deliver(self, change: dict, study: Study | None) -> None:
        """From the worklist hub: signatures and AI results of this user's sites."""
        if change["kind"] in live.FIGURE_KINDS and self.may_see(change["site_id"]):
            await self.nudge(change["kind"])

    async def resync(self) -> None:
        await self.nudge("resync")

    async def stats_changed(self, event: dict) -> None:
        if event.get("site_id") is None or self.may_see(event["site_id"]):
            await self.nudge(event.get("kind", "changed"))

    async def user_disconnect(self, event: dict) -> None:
        await self.close(code=CLOSE_FORBIDDEN)

    async def nudge(self, kind: str) -> None:
        await self.send(text_data=json.dumps({"kind": kind}))

    def may_see(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids


# For config/websocket_routes.py: websocket_urlpatterns += stats.consumers.websocket_urlpatterns
websocket_urlpatterns = [path("ws/stats/", StatsConsumer.as_asgi(), name="stats-live")]
