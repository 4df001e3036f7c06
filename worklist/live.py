"""Live updates of open worklists. Each change is announced after its transaction commits, to the
group of the study's site only; a lost message costs nothing, since a client that reconnects
re-reads its page. Redis being down degrades live updates, never the change itself."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def site_group(site_id: int) -> str:
    return f"worklist-site-{site_id}"


def announce_study_change(*, study_id: int, site_id: int, version: int, kind: str) -> None:
    """Queue the announcement for after the commit of the current transaction."""
    transaction.on_commit(lambda: _send(study_id=study_id, site_id=site_id, version=version, kind=kind))


def _send(*, study_id: int, site_id: int, version: int, kind: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "study.changed", "study_id": study_id, "version": version, "kind": kind}
    try:
        async_to_sync(layer.group_send)(site_group(site_id), message)
    except Exception as exc:  # Redis down or full: the page catches up when it reconnects
        logger.warning("live update for study %s not sent: %s", study_id, type(exc).__name__)
