"""When an open dashboard should re-read its figures: after a verdict, a reader-added finding, a
signature or a new AI result. The page only needs a nudge; the database stays the truth.

Two ways in, both ending in StatsConsumer.nudge:
- the worklist's change hub: signatures arrive as "read", AI results as "ai", claims as "claimed";
- this app's own group: the rollup hooks (stats.rollups), which run in the verdict's or reader
  finding's own transaction, announce here once it commits. reading/ may not import stats/, so the
  post_save receivers are what turn its writes into pushes; a rolled-back write announces nothing.

A burst of changes (a reader going through a study's findings) reaches each open dashboard as one
nudge: the consumer gathers what arrives within NUDGE_COALESCE_SECONDS of the first change."""

from django.db import transaction

from accounts.user_sockets import send_to_group

STATS_GROUP = "stats-changes"
# Study changes of the worklist hub that move a figure.
FIGURE_KINDS = frozenset({"read", "ai", "claimed"})
# At most one re-read a second per dashboard, however fast verdicts arrive; the page adds its own
# 300 ms (static/js/stats-dashboard.js), so a figure moves within about 1.3 s of the commit.
NUDGE_COALESCE_SECONDS = 1.0


def announce_agreement_change(*, site_id: int | None, kind: str) -> None:
    """Tell open dashboards, after the current transaction commits, that figures of a site moved
    (site_id None: of every site)."""
    message = {"type": "stats.changed", "site_id": site_id, "kind": kind}
    transaction.on_commit(lambda: send_to_group(STATS_GROUP, message))
