"""When an open dashboard should re-read its figures: after a verdict, a reader-added finding, a
signature or a new AI result. The page only needs a nudge; the database stays the truth.

Two ways in, both ending in StatsConsumer.nudge:
- pushed: the worklist's change hub (signatures arrive as "read", AI results as "ai"), and this
  app's own group, which code allowed to import stats can announce to after its commit;
- noticed: verdicts and reader-added findings are not announced by reading/ (which may not import
  stats, and which sends nothing for them), so each open dashboard compares the newest row ids of
  those two append-mostly tables every few seconds: two primary-key lookups, no scan."""

import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Max

from accounts.user_sockets import send_to_group
from reading.models import FindingDecision, ReaderFinding

logger = logging.getLogger(__name__)

STATS_GROUP = "stats-changes"
# Study changes of the worklist hub that move a figure.
FIGURE_KINDS = frozenset({"read", "ai", "claimed"})
DEFAULT_POLL_SECONDS = 2.0


def poll_seconds() -> float:
    return float(getattr(settings, "STATS_LIVE_POLL_SECONDS", DEFAULT_POLL_SECONDS))


def announce_agreement_change(*, site_id: int | None, kind: str) -> None:
    """Tell open dashboards, after the current transaction commits, that figures of a site moved."""
    message = {"type": "stats.changed", "site_id": site_id, "kind": kind}
    transaction.on_commit(lambda: send_to_group(STATS_GROUP, message))


def _newest_rows() -> tuple[int, int]:
    decisions = FindingDecision.objects.aggregate(newest=Max("id"))["newest"] or 0
    added = ReaderFinding.objects.aggregate(newest=Max("id"))["newest"] or 0
    return decisions, added


newest_rows = database_sync_to_async(_newest_rows)
