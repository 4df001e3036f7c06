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


@register.inclusion_tag("ai_overlays/_findings_panel.html", takes_context=True)
def ai_findings_panel(context, study):
    user = context["request"].user
    if not can(user, "view_ai_results"):
        return {"shown": False}
    return {
        "shown": True,
        "results_url": reverse("ai_overlays:viewer_results", args=[study.study_instance_uid]),
        "live_path": live_path(study.study_instance_uid),
        "strings": ai_strings(),
    }
