"""A WebSocket whose browser stops reading (a frozen tab, a laptop asleep on the network, a link
slower than the changes) must not make the server hold its messages without bound.

ASGI gives an application no backpressure on a WebSocket. Under daphne every send goes straight
into the connection's Twisted transport buffer, which grows for as long as the browser does not
read, until the keepalive ping times out (daphne's defaults: a ping after 20 s, the connection
dropped 30 s later). So before each message the server checks how much of what it already sent is
still in that buffer; past MAX_UNSENT_BYTES it closes the socket with 1013 instead, which every
page's script treats as "reconnect after a pause and re-read": the page loses nothing, and the
server stops holding what the page would re-read anyway.

The close frame queues behind the unread bytes, so a browser that reads nothing never sees it:
autobahn drops the connection one second later (its close handshake timeout), which frees the
buffer, and the browser, when it wakes, reports 1006, on which the pages reconnect alike."""

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from accounts.socket_access import CLOSE_TRY_AGAIN_LATER

logger = logging.getLogger(__name__)

# Beyond the kernel's own socket buffer. About 300 worklist rows (880 bytes each), six pages of
# 50: room for a burst of changes on a slow link, while a page further behind is cheaper to re-read
# than to catch up. 200 sockets whose browsers stopped reading hold 50 MB at most.
MAX_UNSENT_BYTES = 256 * 1024

Send = Callable[[dict], Awaitable[None]]


class Connection(Protocol):
    def unsent_bytes(self) -> int:
        """Bytes sent by the application that the server has not yet handed to the kernel."""

    async def close_to_retry(self) -> None:
        """Close with 1013, which the application itself cannot send (see DaphneConnection)."""


class DaphneConnection:
    """The connection daphne serves an application's WebSocket on.

    daphne hands each application `partial(server.handle_reply, protocol)`: the protocol is
    autobahn's, on Twisted's TCP transport, whose unsent bytes are `dataBuffer[offset:]` plus the
    chunks queued since (tests/accounts/test_socket_backlog.py reads them through a real socket).
    autobahn refuses an application's close codes outside 1000 and 3000-4999, and the pages'
    WebSocket library reconnects only after 1006 and 1011-1013; its frame-level close, which
    daphne itself sends 1011 with, sends 1013."""

    def __init__(self, protocol):
        self.protocol = protocol

    @classmethod
    def of(cls, send: Send) -> "DaphneConnection | None":
        if isinstance(send, partial) and send.args and hasattr(send.args[0], "sendCloseFrame"):
            return cls(send.args[0])
        return None

    def unsent_bytes(self) -> int:
        transport = self.protocol.transport
        try:
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except (AttributeError, TypeError):  # gone (closed), or not a plain TCP transport
            return 0

    async def close_to_retry(self) -> None:
        self.protocol.sendCloseFrame(code=CLOSE_TRY_AGAIN_LATER)


class BoundedSends:
    """ASGI middleware, outermost (it needs the server's own `send`): closes a WebSocket with 1013
    once its unsent bytes pass `limit`. What the application sends to a closed socket is dropped:
    daphne would raise for it, and the hub would log every change for every closing socket.
    Under a server it does not know, nothing is bounded."""

    def __init__(
        self,
        application,
        *,
        limit: int = MAX_UNSENT_BYTES,
        connection_of: Callable[[Send], Connection | None] = DaphneConnection.of,
    ):
        self.application = application
        self.limit = limit
        self.connection_of = connection_of

    async def __call__(self, scope: dict, receive, send: Send) -> None:
        connection = self.connection_of(send) if scope["type"] == "websocket" else None
        if connection is None:
            return await self.application(scope, receive, send)
        closed = False

        async def bounded_send(message: dict) -> None:
            nonlocal closed
            if closed:
                return
            if message["type"] == "websocket.send" and (unsent := connection.unsent_bytes()) > self.limit:
                closed = True
                logger.info("WebSocket closed: %d bytes sent to it were still unread", unsent)
                await connection.close_to_retry()
                return
            await send(message)
            closed = message["type"] == "websocket.close"

        return await self.application(scope, receive, bounded_send)
