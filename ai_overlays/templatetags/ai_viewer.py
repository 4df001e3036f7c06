"""The AI findings panel of the viewer page: {% load ai_viewer %}{% ai_findings_panel study %}.
Rendered only for users who may see AI results; it carries the URLs and the translated text the
viewer's ai-*.js modules read (no inline script: the CSP forbids it)."""

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.permissions import can
from ai_overlays.viewer_live import live_path

register = template.Library()


def ai_strings() -> dict[str, str]:
    """Text the ai-*.js modules compose at run time; braces name the values put in."""
    return {
        "title": _("AI findings"),
        "show": _("Show AI (H)"),
        "loading": _("Loading AI results…"),
        "none": _("No AI results for this study."),
        "failed": _("The AI results could not be loaded: {reason}"),
        "updated": _("New AI results arrived."),
        "reference": _("Reference engine, not for clinical use"),
        "clearance": _("Clearance: {clearance}"),
        "caseScore": _("Case score {score} (threshold {threshold})"),
        "urgent": _("Urgent"),
        "findingScore": _("{score} ≥ {threshold}"),
        "findingBelow": _("{score} < {threshold}, below the threshold"),
        "slice": _("Im {number}"),
        "slices": _("Im {first}–{last}"),
        "wholeStudy": _("Whole study"),
        "notLoaded": _("Series not in this study"),
        "heatmaps": _("Heatmaps"),
        "opacity": _("Opacity"),
        "threshold": _("Threshold"),
        "fill": _("Fill"),
        "outline": _("Outline"),
        "heatmapCount": _("{count} heatmaps"),
        "showModel": _("Show the findings of {model}"),
        "aiHidden": _("AI hidden (H to show)"),
        "aiShown": _("AI shown"),
        "received": _("Received {time}"),
    }


def reading_strings() -> dict[str, str]:
    """Text of the reading modules (js/viewer/reading-*.js): verdicts, keys, messages."""
    return {
        "undecided": _("Undecided"),
        "accepted": _("Accepted"),
        "rejected": _("Rejected"),
        "modified": _("Modified"),
        "decidedBy": _("{verdict} · {name}"),
        "rejectedBy": _("Rejected: {reason} · {name}"),
        "progress": _("{decided} of {total} AI findings decided"),
        "allDecided": _("Every AI finding is decided."),
        "selected": _("Selected: {caption}"),
        "noneSelected": _("J / K: next / previous finding"),
        "saved": _("Saved."),
        "failed": _("Not saved: {reason}"),
        "staleBy": _("{name} changed this finding first; the panel now shows their verdict."),
        "stale": _("This finding changed meanwhile; the panel now shows the current verdict."),
        "nothingToUndo": _("Nothing to undo on this finding."),
        "editHint": _("Drag the corners or the outline's points, or drag the finding to move it."),
        "labelOnly": _("This finding is about the whole study: only its label can change."),
        "drawPoint": _("Click on the image to place the point."),
        "drawBox": _("Drag on the image from one corner to the other."),
        "drawOutline": _("Click the outline's points; Enter or a double click closes it."),
        "drawn": _("Choose the type and save (Enter)."),
        "drawFirst": _("Draw the finding on the image first."),
        "addedBy": _("Added by {name}"),
        "remove": _("Remove"),
        "removeTitle": _("Remove this added finding"),
        "signBlocked": _("{count} AI findings undecided: decide them before signing."),
        "signBlockedOne": _("1 AI finding undecided: decide it before signing."),
        "reportLoadFailed": _("The report could not be loaded."),
    }


@register.inclusion_tag("ai_overlays/_findings_panel.html", takes_context=True)
def ai_findings_panel(context, study):
    user = context["request"].user
    if not can(user, "view_ai_results"):
        return {"shown": False}
    uid = study.study_instance_uid
    return {
        "shown": True,
        "results_url": reverse("ai_overlays:viewer_results", args=[uid]),
        "live_path": live_path(uid),
        # The reading side of the panel (verdicts, added findings, the report tab); URLs by name only.
        "decisions_url": reverse("reading:decisions", args=[uid]),
        "report_url": reverse("reading:report", args=[uid]),
        "csrf_token": context.get("csrf_token"),
        "strings": {**ai_strings(), **{f"reading.{key}": value for key, value in reading_strings().items()}},
    }
