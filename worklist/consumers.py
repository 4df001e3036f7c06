"""The WebSocket of an open worklist: authenticates, subscribes to the changes of the user's sites
and forwards each as rendered HTML that htmx swaps in out of band."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import HttpRequest
from django.utils import translation

from accounts import socket_access
from accounts.socket_access import CLOSE_FORBIDDEN
from worklist import live_hub, live_rows
from worklist.models import Study


class WorklistConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = await socket_access.admit(self, "view_studies")
        if user is None:
            return
        self.user = user
        self.site_ids: set[int] | None = await database_sync_to_async(user.site_ids)()
        self.language = language_of(self.scope)
        if not await socket_access.join_groups(self, user):
            return
        # Ready before the accept, joined right after it: no change made once the browser sees the
        # socket open is missed, and none is sent before the accept.
        await live_hub.hub().ready()
        await self.accept()
        live_hub.hub().join(self)

    async def disconnect(self, code: int) -> None:
        live_hub.hub().leave(self)

    async def deliver(self, change: dict, study: Study | None) -> None:
        """From the hub: the change as HTML, if it is of this user's sites."""
        if not self.may_see(change["site_id"]):
            return
        if change["kind"] == "new_study":
            await self.send(text_data=live_rows.REFRESH_ELEMENT)
        elif study is not None and self.may_see(study.site_id):
            html = await live_rows.row_html(study, version=change["version"], viewer=self.user, language=self.language)
            await self.send(text_data=html)

    async def resync(self) -> None:
        await self.send(text_data=live_rows.REFRESH_ELEMENT)

    async def user_disconnect(self, event: dict) -> None:
        await self.close(code=CLOSE_FORBIDDEN)

    def may_see(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids


def language_of(scope: dict) -> str:
    """The language the user's pages are in: their language cookie, else the browser's choice."""
    request = HttpRequest()
    request.COOKIES = scope.get("cookies", {})
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)
