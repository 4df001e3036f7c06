"""One worklist row as HTML: the same partial serves the page, its htmx refreshes and the live
updates pushed over the WebSocket, so a row looks the same however it arrived. A row depends on
its viewer only through their role and whether they are its reader (live_rows caches on that)."""

from django.db.models import QuerySet
from django.template.loader import render_to_string

from accounts.models import User
from accounts.permissions import can
from worklist.models import Study

ROW_TEMPLATE = "worklist/_study_row.html"


def studies_for_rows(queryset: QuerySet[Study]) -> QuerySet[Study]:
    """The joins a row needs, in one query."""
    return queryset.select_related("patient", "site", "claimed_by")


def row_permissions(user: User) -> dict[str, bool]:
    """Which buttons the rows show this user; the views check the same permissions again."""
    return {"can_claim": can(user, "claim_studies"), "can_reassign": can(user, "reassign_studies")}


def render_study_row(study: Study, *, user: User, out_of_band: bool = False, notice: str = "") -> str:
    """The row; `notice` is a message shown in it to the user who just acted (a refused claim)."""
    context = {"study": study, "user": user, "out_of_band": out_of_band, "notice": notice, **row_permissions(user)}
    return render_to_string(ROW_TEMPLATE, context)
