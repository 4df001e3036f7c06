"""Served by daphne in a subprocess for test_socket_backlog.py: one WebSocket that, once open,
sends a MESSAGE_BYTES message every millisecond until it is closed, behind the production bound
(accounts.socket_backlog.BoundedSends), as the worklist would during a burst of changes. When the
disconnect comes it prints one JSON line: what it sent, and the largest backlog seen after a send,
read from daphne's connection independently of the bound."""

import asyncio
import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from accounts.socket_backlog import BoundedSends, DaphneConnection  # noqa: E402

MESSAGE_BYTES = 3000


async def flood(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    figures = {"sent": 0, "largest_backlog": 0}
    connection = DaphneConnection.of(scope["daphne_send"])

    async def keep_sending():
        while True:
            await send({"type": "websocket.send", "text": "x" * MESSAGE_BYTES})
            figures["sent"] += 1
            figures["largest_backlog"] = max(figures["largest_backlog"], connection.unsent_bytes())
            await asyncio.sleep(0.001)  # lets the reactor write, as the hub does between changes

    sender = asyncio.create_task(keep_sending())
    disconnect = await receive()
    sender.cancel()
    print(json.dumps({**figures, "disconnect_code": disconnect.get("code")}), flush=True)


async def application(scope, receive, send):
    """daphne's own send stays what the bound sees; the flood reads the same buffer through it."""
    if scope["type"] == "websocket":
        await BoundedSends(flood)(dict(scope, daphne_send=send), receive, send)
