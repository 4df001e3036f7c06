"""The WebSocket of an open viewer: tells the page that its study's AI results changed, so it
re-reads them (ai_overlays.viewer_api) without a reload.

The worklist's socket sends rendered rows; the viewer only needs a nudge. This consumer listens
to the same per-process hub (worklist.live_hub) and forwards, as a small JSON message, the "ai"
changes of the one study it was opened for. Access is checked once at connect: the opening every
user socket shares (accounts.socket_access), then access_study (a study of another site is refused
and audited). The database stays the truth: after a drop the page re-reads."""

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path

from accounts import socket_access
from accounts.socket_access import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND
from worklist import live_hub
from worklist.access import access_study
from worklist.models import Study

# Changes that alter what the viewer draws of the AI.
AI_KINDS = frozenset({"ai"})


class StudyAIConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = await socket_access.admit(self, "view_ai_results")
        if user is None:
            return
        try:
            study = await database_sync_to_async(access_study)(
                user, self.scope["url_route"]["kwargs"]["study_uid"], source=_client_address(self.scope)
            )
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        except PermissionDenied:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.study_id = study.pk
        self.site_id = study.site_id
        # The per-user group: a user disabled or moved off the site is closed.
        if not await socket_access.join_groups(self, user):
            return
        await live_hub.hub().ready()
        await self.accept()
        live_hub.hub().join(self)

    async def disconnect(self, code: int) -> None:
        live_hub.hub().leave(self)

    async def deliver(self, change: dict, study: Study | None) -> None:
        """From the hub: only this study's AI changes, and only while it is still of its site."""
        if change["study_id"] != self.study_id or change["kind"] not in AI_KINDS:
            return
        if study is None or study.site_id != self.site_id:
            return
        await self.send(text_data=json.dumps({"kind": change["kind"], "version": change["version"]}))

    async def resync(self) -> None:
        await self.send(text_data=json.dumps({"kind": "resync"}))

    async def user_disconnect(self, event: dict) -> None:
        await self.close(code=CLOSE_FORBIDDEN)


def _client_address(scope: dict) -> str:
    client = scope.get("client")
    return str(client[0])[:128] if client else ""


def live_path(study_uid: str) -> str:
    return f"/ws/viewer/studies/{study_uid}/ai/"


# For config/websocket_routes.py: websocket_urlpatterns += ai_overlays.viewer_live.websocket_urlpatterns
websocket_urlpatterns = [
    path("ws/viewer/studies/<str:study_uid>/ai/", StudyAIConsumer.as_asgi(), name="viewer-ai-live"),
]
