"""What a change of a study pushes to an open worklist, as htmx out-of-band HTML.

When a study changes, every socket of its site wants the same row at the same moment. The study
is therefore fetched once per version and its row rendered once per language and viewpoint, however
many sockets this process holds; they all await the one computation. The row may depend on its
viewer only through the viewpoint: their role and whether they are the study's reader.

The row is rendered in the event loop's own thread: a hop to a worker thread per render waited for
the GIL behind the 200 sockets being served (20-30 ms per change in bench/worklist_events_bench.py),
while the render itself takes about a millisecond. This relies on rows.studies_for_rows fetching
everything a row shows in its one query; a row that needed another would fail here, loudly."""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from django.utils import translation

from accounts.models import User
from worklist.models import Study
from worklist.rows import render_study_row

Result = TypeVar("Result")

# A new study's place in a sorted, filtered, paginated view is the server's to decide: the page
# re-reads its rows when this element is swapped in (static/js/worklist-live.js).
REFRESH_ELEMENT = '<div id="worklist-refresh" hx-swap-oob="true" hidden></div>'


class SharedResults:
    """A small LRU of results, each computed once even when many callers ask for it at once."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[Hashable, asyncio.Future] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Result]]) -> Result:
        entry = self.entries.get(key)
        if entry is None or (not entry.done() and entry.get_loop() is not asyncio.get_running_loop()):
            entry = asyncio.ensure_future(compute())
            self.entries[key] = entry
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        try:
            # Shielded: one closing socket must not cancel the computation the others await.
            return await asyncio.shield(entry)
        except Exception:
            if self.entries.get(key) is entry:  # a failure is tried again by the next event
                del self.entries[key]
            raise

    def clear(self) -> None:
        self.entries.clear()


studies = SharedResults(size=64)
rows = SharedResults(size=256)


async def row_html(study: Study, *, version: int, viewer: User, language: str) -> str:
    key = (study.pk, version, language, viewer.role, viewer.pk == study.claimed_by_id)
    return await rows.get(key, lambda: _render_row(study, viewer=viewer, language=language))


async def _render_row(study: Study, *, viewer: User, language: str) -> str:
    with translation.override(language):
        return render_study_row(study, user=viewer, out_of_band=True)


def clear() -> None:
    studies.clear()
    rows.clear()
