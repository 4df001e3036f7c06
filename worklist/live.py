"""Live updates of open worklists. Each change is announced after its transaction commits, once,
to the group that every process serving worklists listens to (worklist.live_hub); a lost message
costs nothing, since a client that reconnects re-reads its page. Redis being down or slow degrades
live updates, never the change itself."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# One member per serving process, not per socket: see worklist.live_hub for why. Sites are told
# apart in the process, so a site added later needs nothing here.
CHANGES_GROUP = "worklist-changes"
# A claim waits for its announcement after the commit: a hung Redis must not hang the claim.
SEND_TIMEOUT_SECONDS = 1.0

STUDY_CHANGE_KINDS = frozenset({"new_study", "new_series", "claimed", "released", "reassigned", "read", "ai"})


def user_group(user_id: int) -> str:
    return f"worklist-user-{user_id}"


def announce_study_change(*, study_id: int, site_id: int, version: int, kind: str) -> None:
    """Queue the announcement for after the commit of the current transaction."""
    if kind not in STUDY_CHANGE_KINDS:
        raise ValueError(f"unknown study change kind {kind!r}")
    message = {"type": "study.changed", "study_id": study_id, "site_id": site_id, "version": version, "kind": kind}
    transaction.on_commit(lambda: _send(CHANGES_GROUP, message))


def disconnect_user(user_id: int) -> None:
    """Close every open worklist of this user (deactivated, or sites taken away), after the commit."""
    transaction.on_commit(lambda: _send(user_group(user_id), {"type": "user.disconnect"}))


def _send(group: str, message: dict) -> None:
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
