"""The opening every user socket shares (accounts.socket_access), on each WebSocket route, mounted
without the ASGI stack's Origin check: a page of another site is still refused, before the
session is read."""

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from config.websocket_routes import websocket_urlpatterns

WITHOUT_ORIGIN_CHECK = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
ROUTES = ["/ws/worklist/", "/ws/viewer/studies/1.2.3/ai/", "/ws/stats/"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("headers", [[(b"origin", b"https://evil.example")], []], ids=["foreign-origin", "no-origin"])
async def test_a_socket_not_opened_by_our_own_pages_is_refused_with_4403(path, headers):
    communicator = WebsocketCommunicator(WITHOUT_ORIGIN_CHECK, path, headers=headers)
    assert await communicator.connect() == (False, 4403)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ROUTES)
async def test_our_own_page_without_a_session_is_refused_with_4401(path):
    communicator = WebsocketCommunicator(WITHOUT_ORIGIN_CHECK, path, headers=[(b"origin", b"http://localhost")])
    assert await communicator.connect() == (False, 4401)
