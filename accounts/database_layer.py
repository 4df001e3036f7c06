"""The channel layer of the embedded default: Channels' in-memory layer, whose group messages also
reach the other processes of the machine through a table.

./run serves pages in one process while the DICOM listener and the AI dispatcher (whose jobs run
in-process) change studies in others, and the in-memory layer reaches only its own process. Here
every group_send is delivered to the process's own group members as before, and also written to
ChannelLayerMessage with the sending process's token, right after the sender's commit like every
announcement (or inside the transaction it is called in). A process with group members (the web
server) reads the rows newer than the last it saw every POLL_SECONDS and delivers those of other
processes to its own members; a process without members never reads. The writers delete rows
older than RETENTION_SECONDS. Messages cross as JSON (the announcements hold ids and names). Like
the Redis layer this is at most once: a live update is a hint, and a page re-reads its rows when it
reconnects.

A reader that has passed an id never looks back, so rows must become visible in id order: SQLite
has one writer at a time, and on PostgreSQL a writer locks the table for its insert."""

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.database_thread import DatabaseThread
from accounts.models import ChannelLayerMessage

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
RETENTION_SECONDS = 300
PRUNE_EVERY_SECONDS = 60
READ_BATCH = 500


class DatabaseChannelLayer(InMemoryChannelLayer):
    def __init__(self, poll_seconds: float = POLL_SECONDS, retention_seconds: float = RETENTION_SECONDS, **kwargs):
        super().__init__(**kwargs)
        self.poll_seconds = poll_seconds
        self.retention = timedelta(seconds=retention_seconds)
        self.last_seen_id = 0
        self._poller: asyncio.Task | None = None
        self._poller_started: asyncio.Future | None = None
        # A thread of its own, with its own connection: not the one thread that runs the web
        # server's sync views, where each read would wait behind a slow page.
        self._reader = DatabaseThread("channel-layer-reader")
        self._pruned_at = float("-inf")
        self._token_pid = 0
        self._token = ""

    @property
    def process_token(self) -> str:
        # Made anew in a forked child (daphne in the live-server tests): another process.
        if self._token_pid != os.getpid():
            self._token_pid, self._token = os.getpid(), f"{os.getpid()}-{secrets.token_hex(8)}"
        return self._token

    async def group_send(self, group: str, message: dict) -> None:
        await super().group_send(group, message)
        # Thread-sensitive: on the sender's own thread, connection and transaction.
        await sync_to_async(self.write)(group, message)

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        await self._poll_while_members()

    async def group_discard(self, group: str, channel: str) -> None:
        await super().group_discard(group, channel)
        if not self.groups:
            await self._stop_polling()

    async def flush(self) -> None:
        await super().flush()
        await self._stop_polling()

    # --- writing ----------------------------------------------------------------------------

    def write(self, group: str, message: dict) -> None:
        body = json.dumps(message)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {ChannelLayerMessage._meta.db_table} IN EXCLUSIVE MODE")
            ChannelLayerMessage.objects.create(group=group, message=body, sender=self.process_token)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            self.prune()

    def prune(self) -> int:
        deleted, _ = ChannelLayerMessage.objects.filter(created_at__lt=timezone.now() - self.retention).delete()
        return deleted

    # --- reading ----------------------------------------------------------------------------

    async def _poll_while_members(self) -> None:
        """Start reading the table, if this loop does not already; returns once the reader knows
        where the table ends, so that no message sent after the group_add is missed. Raises if the
        database cannot be read: join_groups then closes the socket to be retried, as with Redis."""
        loop = asyncio.get_running_loop()
        if self._poller is None or self._poller.done() or self._poller.get_loop() is not loop:
            self._poller_started = loop.create_future()
            self._poller = loop.create_task(self._poll(self._poller_started))
        await asyncio.shield(self._poller_started)

    async def _poll(self, started: asyncio.Future) -> None:
        try:
            try:
                self.last_seen_id = await self._reader.run(_newest_id)
            except Exception as exc:
                started.set_exception(exc)
                return
            started.set_result(None)
            while self.groups:
                await asyncio.sleep(self.poll_seconds)
                while await self.deliver_new() == READ_BATCH:
                    pass
        finally:
            if not started.done():  # cancelled before it knew where the table ends
                started.cancel()
            self._reader.close()

    async def _stop_polling(self) -> None:
        poller = self._poller
        if poller is None or poller.done() or poller.get_loop() is not asyncio.get_running_loop():
            return
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller

    async def deliver_new(self) -> int:
        """Deliver the messages of other processes written since the last read; the rows read."""
        try:
            rows = await self._reader.run(_rows_after, self.last_seen_id)
        except Exception as exc:  # the database busy or away: read again at the next tick
            logger.warning("channel layer messages of other processes not read: %s", type(exc).__name__)
            return 0
        for row_id, sender, group, body in rows:
            self.last_seen_id = row_id
            if sender == self.process_token:
                continue
            try:
                message = json.loads(body)
                if not isinstance(message, dict) or "type" not in message:
                    raise ValueError("not a channel layer message")
                await super().group_send(group, message)  # this process's members only
            except Exception as exc:  # one garbled row must not stop the others
                logger.warning("channel layer message %s skipped: %s", row_id, type(exc).__name__)
        return len(rows)


def _newest_id() -> int:
    return ChannelLayerMessage.objects.aggregate(newest=Max("id"))["newest"] or 0


def _rows_after(last_seen_id: int) -> list[tuple[int, str, str, str]]:
    rows = ChannelLayerMessage.objects.filter(id__gt=last_seen_id).order_by("id")
    return list(rows.values_list("id", "sender", "group", "message")[:READ_BATCH])
