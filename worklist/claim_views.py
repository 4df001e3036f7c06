"""Claim, release and reassign from the worklist (htmx POSTs): each answers with the updated row, or
with the current row and the reason (409) when the workflow refuses, such as who is reading it."""

from collections.abc import Callable

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit
from accounts.permissions import requires
from worklist.access import access_study
from worklist.models import Study
from worklist.readers import display_name, readers_of
from worklist.rows import render_study_row, studies_for_rows
from worklist.workflow import ClaimConflict, WorkflowError, claim_study, reassign_study, release_study

REFUSALS = {
    "not_your_claim": gettext_lazy("This study is not claimed by you."),
    "already_read": gettext_lazy("This study has been read."),
    "stale": gettext_lazy("The study changed meanwhile; look again and retry."),
    "bad_transition": gettext_lazy("This study cannot be moved that way now."),
}


@requires("claim_studies")
@require_POST
def claim(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    return _row_answer(request, study, lambda: claim_study(user=request.user, study=study, source=_source(request)))


@requires("claim_studies")
@require_POST
def release(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    return _row_answer(request, study, lambda: release_study(user=request.user, study=study, source=_source(request)))


class ReassignForm(forms.Form):
    to = forms.ModelChoiceField(queryset=None, required=False, empty_label=gettext_lazy("Nobody (back to the list)"))

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = readers_of(study.site)
        self.fields["to"].label_from_instance = display_name


@requires("reassign_studies")
@require_http_methods(["GET", "POST"])
def reassign(request: HttpRequest, study_uid: str) -> HttpResponse:
    """GET: the small form that takes the place of the Reassign button; POST: reassign."""
    study = access_study(request.user, study_uid, source=_source(request))
    form = ReassignForm(request.POST or None, study=study)
    if request.method == "GET":
        return render(request, "worklist/_reassign_form.html", {"form": form, "study": study})
    if not form.is_valid():
        return HttpResponse(_row(request, study, _("Choose a radiologist of this site.")), status=400)
    reader = form.cleaned_data["to"]
    return _row_answer(
        request, study, lambda: reassign_study(by=request.user, study=study, to=reader, source=_source(request))
    )


def _row_answer(request: HttpRequest, study: Study, action: Callable[[], Study]) -> HttpResponse:
    """The updated row; a refusal (409) is the current row with the reason shown in it."""
    try:
        study = action()
    except ClaimConflict as conflict:
        notice = _("%(name)s is reading this study.") % {"name": display_name(conflict.owner)}
        return HttpResponse(_row(request, study, notice), status=conflict.http_status)
    except WorkflowError as error:
        notice = str(REFUSALS.get(error.code, _("This cannot be done now.")))
        return HttpResponse(_row(request, study, notice), status=error.http_status)
    return HttpResponse(_row(request, study))


def _row(request: HttpRequest, study: Study, notice: str = "") -> str:
    study = studies_for_rows(Study.objects.filter(pk=study.pk)).get()
    return render_study_row(study, user=request.user, notice=notice)


def _source(request: HttpRequest) -> str:
    return audit.client_address(request)
