"""Live updates of open worklists. Each change is announced after its transaction commits, once,
to the group that every process serving worklists listens to (worklist.live_hub); a lost message
costs nothing, since a client that reconnects re-reads its page. Redis being down or slow degrades
live updates, never the change itself."""

from django.db import transaction

from accounts.user_sockets import disconnect_user, send_to_group, user_group

__all__ = ["CHANGES_GROUP", "announce_study_change", "disconnect_user", "user_group"]


# One member per serving process, not per socket: see worklist.live_hub for why. Sites are told
# apart in the process, so a site added later needs nothing here.
CHANGES_GROUP = "worklist-changes"

STUDY_CHANGE_KINDS = frozenset({"new_study", "new_series", "claimed", "released", "reassigned", "read", "ai"})


def announce_study_change(*, study_id: int, site_id: int, version: int, kind: str) -> None:
    """Queue the announcement for after the commit of the current transaction."""
    if kind not in STUDY_CHANGE_KINDS:
        raise ValueError(f"unknown study change kind {kind!r}")
    message = {"type": "study.changed", "study_id": study_id, "site_id": site_id, "version": version, "kind": kind}
    # A claim waits for its announcement after the commit: a hung Redis must not hang the claim.
    transaction.on_commit(lambda: send_to_group(CHANGES_GROUP, message))
