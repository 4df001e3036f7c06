"""A thread of its own with a database connection kept from one read to the next, for the async
code that reads on every live change or tick (the worklist hub, the embedded channel layer):
channels' database_sync_to_async closes the connection after each call (CONN_MAX_AGE is 0 on
SQLite), and opening one per read costs more than the read. Each read runs in autocommit, so no
transaction stays open between reads, and none waits behind the server's sync views."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


class DatabaseThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self.executor: ThreadPoolExecutor | None = None

    async def run[Result](self, read: Callable[..., Result], *args) -> Result:
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        return await asyncio.get_running_loop().run_in_executor(self.executor, _on_kept_connection, read, *args)

    def close(self) -> None:
        """Closes the connection once the reads already queued are done, then ends the thread."""
        if self.executor is not None:
            self.executor.submit(_close_connection)
            self.executor.shutdown(wait=False)
            self.executor = None


def _on_kept_connection[Result](read: Callable[..., Result], *args) -> Result:
    # Nothing checks a kept connection before it is used: one that died with its server (a restarted
    # PostgreSQL) fails the read, which is tried once more on a new connection. A connection opened
    # for this read that fails is closed too, so that the next read opens another.
    was_open = connection.connection is not None
    try:
        return read(*args)
    except Exception:
        connection.close()
        if not was_open:
            raise
    try:
        return read(*args)
    except Exception:
        connection.close()
        raise


def _close_connection() -> None:
    connection.close()  # of the thread it runs in: looked up there, not where it was queued
