"""The viewer page: the HTML shell of the ES-module viewer. The pixels, the manifest and their
audit row come from the pixel endpoints (reading.pixel_views); this page only checks access."""

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import audit
from accounts.permissions import requires
from worklist.access import access_study

# Stands for a study UID in the manifest URL template the viewer fills in for priors.
UID_PLACEHOLDER = "STUDY_UID"


def viewer_strings() -> dict[str, str]:
    """Text the modules compose at run time; braces name the values put in."""
    return {
        "image": _("Im {index} / {count}"),
        "series": _("Se {number} {description}"),
        "location": _("Loc {value} mm"),
        "window": _("W {width} L {center}"),
        "zoom": _("Zoom {percent}%"),
        "loading": _("Loading {loaded} / {count}"),
        "cannotDisplay": _("Cannot display this image: {reason}"),
        "failed": _("The images could not be loaded: {reason}"),
        "noImages": _("No images"),
        "empty": _("Drop a series here"),
        "oneFrame": _("1 image"),
        "frames": _("{count} images"),
        "priorBadge": _("PRIOR"),
        "prior": _("Prior {date}"),
        "noPrior": _("This patient has no prior study."),
        "noMammography": _("This study has no four-view mammography."),
        "noPresets": _("Window presets are for CT."),
        "millimetres": _("{value} mm"),
        "pixels": _("{value} px"),
        "degrees": _("{value}°"),
        "roi": _("mean {mean} SD {sd} ({count} px)"),
        "roiHounsfield": _("mean {mean} HU SD {sd} ({count} px)"),
        "preset-lung": _("Lung"),
        "preset-mediastinum": _("Mediastinum"),
        "preset-bone": _("Bone"),
        "preset-brain": _("Brain"),
        "preset-stroke": _("Stroke"),
        "preset-soft-tissue": _("Soft tissue"),
        "preset-default": _("Default"),
        "webglMissing": _("WebGL2 is not available: drawing with the 2D canvas."),
    }


@requires("view_studies")
def viewer(request, study_uid: str):
    study = access_study(request.user, study_uid, source=audit.client_address(request))
    context = {
        "study": study,
        "manifest_url": reverse("reading:manifest", args=[study.study_instance_uid]),
        "manifest_url_template": reverse("reading:manifest", args=[UID_PLACEHOLDER]),
        "uid_placeholder": UID_PLACEHOLDER,
        "strings": viewer_strings(),
    }
    return render(request, "reading/viewer.html", context)
