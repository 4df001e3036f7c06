"""Pages that bring studies in: the upload page (which sends to STOW-RS) and the PACS page."""

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.models import Site
from accounts.permissions import can, requires
from worklist.destination import access_upload_site, upload_sites
from worklist.pacs_pull import MAX_RESULTS, PacsError, pull_study, search_pacs


class PacsSearchForm(forms.Form):
    patient_id = forms.CharField(label=_("Patient ID"), max_length=64, required=False)
    accession = forms.CharField(label=_("Accession number"), max_length=16, required=False)
    modality = forms.RegexField(label=_("Modality"), regex=r"^[A-Za-z0-9]{1,16}$", required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in self.fields):
            raise forms.ValidationError(_("Give a patient ID, an accession number, a modality or dates."))
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The first date is after the second."))
        return data

    def criteria(self) -> dict:
        data = self.cleaned_data
        return {
            "patient_id": data["patient_id"].strip(),
            "accession": data["accession"].strip(),
            "modality": data["modality"],
            "study_date_range": (data["date_from"], data["date_to"]),
        }


@requires("upload_studies")
def upload(request: HttpRequest) -> HttpResponse:
    sites = list(upload_sites(request.user))
    context = {
        "sites": sites,
        "choose_site": len(sites) > 1 or request.user.site_ids() is None,
        "can_pull": can(request.user, "pull_from_pacs") and bool(settings.PACS_DICOMWEB_URL),
    }
    return render(request, "worklist/upload.html", context)


@requires("pull_from_pacs")
def pacs(request: HttpRequest) -> HttpResponse:
    site = _pacs_site(request)
    form = PacsSearchForm(request.GET or None)
    studies, problem = None, ""
    if form.is_bound and form.is_valid():
        try:
            studies = search_pacs(
                **form.criteria(),
                user=request.user,
                source=audit.client_address(request),
            )
        except PacsError as failure:
            problem = failure.message
    context = {
        "form": form,
        "studies": studies,
        "problem": problem,
        "site": site,
        "configured": bool(settings.PACS_DICOMWEB_URL),
        "capped": studies is not None and len(studies) >= MAX_RESULTS,
    }
    return render(
        request,
        "worklist/pacs.html#results" if request.htmx else "worklist/pacs.html",
        context,
    )


@requires("pull_from_pacs")
@require_POST
def pacs_pull(request: HttpRequest) -> HttpResponse:
    site = _pacs_site(request)
    result, problem = None, ""
    try:
        result = pull_study(
            request.POST.get("study_uid", ""),
            site=site,
            user=request.user,
            source=audit.client_address(request),
        )
    except PacsError as failure:
        problem = failure.message
    context = {
        "pulled": result,
        "pull_problem": problem,
        "form": PacsSearchForm(),
        "site": site,
        "configured": True,
    }
    return render(
        request,
        "worklist/pacs.html#pulled" if request.htmx else "worklist/pacs.html",
        context,
    )


def _pacs_site(request: HttpRequest) -> Site:
    """Studies pulled from the PACS belong to its site: only that site's members search and pull."""
    return access_upload_site(
        request.user,
        settings.PACS_SITE,
        source=audit.client_address(request),
        action="pull_from_pacs",
    )
