"""One worklist row as HTML: the same partial serves the page, its htmx refreshes and the live
updates pushed over the WebSocket, so a row looks the same however it arrived."""

from django.template.loader import render_to_string

from accounts.models import User
from worklist.models import Study

ROW_TEMPLATE = "worklist/_study_row.html"


def studies_for_rows(queryset):
    """The joins a row needs, in one query."""
    return queryset.select_related("patient", "site", "claimed_by")


def render_study_row(study: Study, *, user: User, out_of_band: bool = False) -> str:
    return render_to_string(ROW_TEMPLATE, {"study": study, "user": user, "out_of_band": out_of_band})
