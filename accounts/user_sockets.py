"""Each signed-in user's open WebSockets (worklist, viewer, dashboard) join one group, so that an
admin's change to the user (deactivated, sites or role changed) can close them all at once. Sent
after the commit, within a timeout: Redis being down or slow never blocks the change itself."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 1.0


def user_group(user_id: int) -> str:
    return f"worklist-user-{user_id}"


def disconnect_user(user_id: int) -> None:
    """Close every open socket of this user, after the commit of the current transaction."""
    transaction.on_commit(lambda: send_to_group(user_group(user_id), {"type": "user.disconnect"}))


def send_to_group(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send_within_timeout)(layer, group, message)
    except Exception as exc:  # Redis down, slow or full: the page catches up when it reconnects
        logger.warning("live update %s to %s not sent: %s", message["type"], group, type(exc).__name__)


async def _send_within_timeout(layer, group: str, message: dict) -> None:
    async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
        await layer.group_send(group, message)
