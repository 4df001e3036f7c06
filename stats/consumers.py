"""The WebSocket of an open statistics dashboard: authenticates, then nudges the page (a small JSON
message) whenever its figures may have moved; the page re-reads its own URL. See stats.live for
where the nudges come from."""

import asyncio
import contextlib
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path

from accounts import socket_access
from accounts.socket_access import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from stats import live
from worklist import live_hub
from worklist.models import Study

__all__ = ["CLOSE_FORBIDDEN", "CLOSE_UNAUTHENTICATED", "StatsConsumer", "websocket_urlpatterns"]


class StatsConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = await socket_access.admit(self, "view_stats")
        if user is None:
            return
        self.site_ids: set[int] | None = await database_sync_to_async(user.site_ids)()
        self.pending_kinds: list[str] = []
        self.flush: asyncio.Task | None = None
        if not await socket_access.join_groups(self, user, live.STATS_GROUP):
            return
        await live_hub.hub().ready()
        await self.accept()
        live_hub.hub().join(self)

    async def disconnect(self, code: int) -> None:
        live_hub.hub().leave(self)
        await self.drop_pending()

    async def deliver(self, change: dict, study: Study | None) -> None:
        """From the worklist hub: signatures, claims and AI results of this user's sites."""
        if change["kind"] in live.FIGURE_KINDS and self.may_see(change["site_id"]):
            await self.nudge(change["kind"])

    async def resync(self) -> None:
        await self.nudge("resync")

    async def stats_changed(self, event: dict) -> None:
        """From stats.live.announce_agreement_change: a verdict or reader-added finding committed."""
        if event.get("site_id") is None or self.may_see(event["site_id"]):
            await self.nudge(event.get("kind", "changed"))

    async def user_disconnect(self, event: dict) -> None:
        await self.drop_pending()
        await self.close(code=CLOSE_FORBIDDEN)

    async def nudge(self, kind: str) -> None:
        """Sent NUDGE_COALESCE_SECONDS after the first change: what arrives meanwhile rides along."""
        self.pending_kinds.append(kind)
        if self.flush is None:
            self.flush = asyncio.get_running_loop().create_task(self.send_pending())

    async def send_pending(self) -> None:
        await asyncio.sleep(live.NUDGE_COALESCE_SECONDS)
        kinds, self.pending_kinds, self.flush = set(self.pending_kinds), [], None
        kind = kinds.pop() if len(kinds) == 1 else "changed"
        await self.send(text_data=json.dumps({"kind": kind}))

    async def drop_pending(self) -> None:
        flush, self.flush = getattr(self, "flush", None), None
        if flush is not None:
            flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flush

    def may_see(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids


# For config/websocket_routes.py: websocket_urlpatterns += stats.consumers.websocket_urlpatterns
websocket_urlpatterns = [path("ws/stats/", StatsConsumer.as_asgi(), name="stats-live")]
