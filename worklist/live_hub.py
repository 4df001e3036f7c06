"""One subscription to worklist changes per serving process, shared by its open worklists.

The channel layer delivers one message per member channel, and channels_redis pops each with a
Redis round trip of its own. With a channel per open worklist, one change at a site with 200
worklists open cost 200 Redis messages and about 250 us of server CPU each, before any rendering
(bench/worklist_events_bench.py: p50 115 ms, p95 400 ms). Here the process holds one channel in
live.CHANGES_GROUP, receives each change once, reads the study once and hands both to the local
sockets, which keep only the changes of their own sites.

The study is read on a thread of the hub's own that keeps its database connection from one change
to the next (accounts.database_thread): opening a new one for every change was about 5 % of the
hub's CPU on SQLite."""

import asyncio
import contextlib
import logging
import time
from typing import Protocol
from weakref import WeakKeyDictionary

from channels.layers import get_channel_layer

from accounts.database_thread import DatabaseThread
from worklist import live, live_rows
from worklist.models import Study
from worklist.rows import studies_for_rows

logger = logging.getLogger(__name__)

# channels_redis forgets a group member after a day (group_expiry): join again well before.
REJOIN_SECONDS = 3600
RETRY_SECONDS = [1.0, 2.0, 5.0, 10.0, 30.0]
# A socket waits this long for the process to be in the group before it opens anyway (Redis down:
# it gets a resync once the hub is back).
JOIN_WAIT_SECONDS = 2.0


class Subscriber(Protocol):
    async def deliver(self, change: dict, study: Study | None) -> None:
        """Send the change to the browser if it may see it; `study` as read once for everyone."""

    async def resync(self) -> None:
        """Changes may have been missed: tell the page to re-read its rows."""


def _read_study(study_id: int) -> Study | None:
    return studies_for_rows(Study.objects.filter(pk=study_id)).first()


class Hub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.task: asyncio.Task | None = None
        self.listening = asyncio.Event()
        self.database = DatabaseThread("worklist-hub-reader")

    async def ready(self) -> None:
        """Returns once changes reach this process (or after JOIN_WAIT_SECONDS without Redis)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.listen())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(JOIN_WAIT_SECONDS):
                await self.listening.wait()

    def join(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)

    def leave(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers and self.task is not None:
            self.task.cancel()
            self.task = None
            self.listening.clear()
            self.database.close()

    async def listen(self) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        failures = 0
        while True:
            try:
                await layer.group_add(live.CHANGES_GROUP, channel)
                joined_at = time.monotonic()
                self.listening.set()
                if failures:
                    await self.resync_all()
                failures = 0
                while True:
                    if time.monotonic() - joined_at > REJOIN_SECONDS:
                        await layer.group_add(live.CHANGES_GROUP, channel)
                        joined_at = time.monotonic()
                    try:
                        async with asyncio.timeout(REJOIN_SECONDS):
                            change = await layer.receive(channel)
                    except TimeoutError:  # an hour without changes: time to join again
                        continue
                    await self.dispatch(change)
            except asyncio.CancelledError:
                # Stopped by leave(), or by its event loop ending without one (a test's): the
                # connection is not left open, unless a new listener already reads on it.
                if self.task in (None, asyncio.current_task()):
                    self.database.close()
                raise
            except Exception as exc:  # Redis down: retry, and let the pages catch up afterwards
                self.listening.clear()
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                logger.warning("worklist changes not received (%s); retrying in %s s", type(exc).__name__, delay)
                await asyncio.sleep(delay)

    async def dispatch(self, change: dict) -> None:
        """One change to every local socket, in turn: a send only hands bytes to the server's
        buffer, and one loop costs less than a task woken per socket."""
        if change.get("type") != "study.changed":
            return
        study = None
        if change["kind"] != "new_study":
            try:
                study = await self.study_at(change["study_id"], change["version"])
            except Exception:
                logger.exception("study %s of a change not read", change["study_id"])
                await self.resync_all()
                return
        for subscriber in list(self.subscribers):
            try:
                await subscriber.deliver(change, study)
            except Exception:  # one broken socket must not keep the change from the others
                logger.exception("change of study %s not delivered", change["study_id"])

    async def study_at(self, study_id: int, version: int) -> Study | None:
        """The study as it is at `version` or later (None once deleted), one query per version."""
        return await live_rows.studies.get((study_id, version), lambda: self.database.run(_read_study, study_id))

    async def resync_all(self) -> None:
        for subscriber in list(self.subscribers):
            with contextlib.suppress(Exception):
                await subscriber.resync()


_hubs: WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop (daphne runs one; each async test has its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]
