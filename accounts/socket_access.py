"""The opening every WebSocket of a signed-in user shares (worklist, viewer AI results, statistics
dashboard): who may open it, and the per-user group through which an admin's change to the user
closes it (accounts.user_sockets).

The close codes are what the pages' scripts act on: 4401 and 4403 reload the page, which then
shows the sign-in page or the refusal; 1006 and 1011-1013 make it reconnect after a pause and
re-read. Before the accept daphne turns any close into a refused handshake, which the browser
reports as 1006: the codes reach the browser as such from an open socket only."""

import logging
from urllib.parse import urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator

from accounts.models import User
from accounts.permissions import can
from accounts.user_sockets import user_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# A channel layer down at connect time, or a socket closed for falling behind its browser
# (accounts.socket_backlog), costs the page a retry and a re-read, not a dead page.
CLOSE_TRY_AGAIN_LATER = 1013


async def admit(consumer: AsyncWebsocketConsumer, action: str) -> User | None:
    """The socket's user if they may do `action`; otherwise None, the socket closed with its code.

    The ASGI stack (config.asgi) refuses a foreign Origin before any consumer runs; the same rule
    is checked here so that a consumer mounted without that stack still never serves a page of
    another site with the user's cookie."""
    if not origin_allowed(consumer.scope):
        await consumer.close(code=CLOSE_FORBIDDEN)
        return None
    user = consumer.scope["user"]
    if not user.is_authenticated:
        await consumer.close(code=CLOSE_UNAUTHENTICATED)
        return None
    if not can(user, action):
        await consumer.close(code=CLOSE_FORBIDDEN)
        return None
    return user


async def join_groups(consumer: AsyncWebsocketConsumer, user: User, *groups: str) -> bool:
    """Join the user's group, then `groups`; False, the socket closed with 1013, if Redis fails."""
    try:
        for group in (user_group(user.pk), *groups):
            await consumer.channel_layer.group_add(group, consumer.channel_name)
            consumer.groups.append(group)  # left again by the base class on disconnect
    except Exception as exc:
        logger.warning("%s of user %s not joined: %s", type(consumer).__name__, user.pk, type(exc).__name__)
        await consumer.close(code=CLOSE_TRY_AGAIN_LATER)
        return False
    return True


def origin_allowed(scope: dict) -> bool:
    """The rule of channels' AllowedHostsOriginValidator: an Origin header naming an allowed host."""
    origin = None
    for name, value in scope.get("headers", []):
        if name == b"origin":
            origin = urlparse(value.decode("latin-1"))
    return AllowedHostsOriginValidator(None).valid_origin(origin)
