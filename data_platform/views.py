"""The data steward's pages: cohort builder with live counts, export form, export list with a
progress bar (htmx polling), audited download; MPI suggestions; the admin's purpose approvals."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import requires
from ai_overlays.models import AIModel
from data_platform import cohorts, mpi, package, purposes
from data_platform.models import (
    AccessKind,
    Cohort,
    DataAccessEvent,
    Export,
    ExportStatus,
    Purpose,
    PurposeKind,
    PurposeStatus,
)
from worklist.models import ClinicalArea

VERDICT_LABELS = {
    "accepted": pgettext_lazy("verdict", "accepted"),
    "rejected": pgettext_lazy("verdict", "rejected (negatives)"),
    "modified": pgettext_lazy("verdict", "modified"),
    "added": pgettext_lazy("verdict", "added by the reader"),
}
DEFINITION_FIELDS = ("modality", "clinical_area", "body_part", "date_from", "date_to", "ai_model", "verdict")


def access_export(user, export_id: int) -> Export:
    """Stewards see every export: a cohort is province-wide, not one site's."""
    return get_object_or_404(Export.objects.select_related("cohort", "purpose"), pk=export_id)


def definition_from(data) -> cohorts.CohortDefinition:
    fields = {name: data.get(name, "") for name in DEFINITION_FIELDS}
    fields["sites"] = [code for code in data.getlist("sites") if code]
    try:
        return cohorts.CohortDefinition.from_json(fields)
    except ValueError:
        return cohorts.CohortDefinition()


@requires("build_cohorts")
@require_http_methods(["GET", "POST"])
def cohort_builder(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    definition = definition_from(source)
    if request.method == "POST" and request.POST.get("name", "").strip():
        cohort = Cohort.objects.create(
            name=request.POST["name"].strip()[:120], definition=definition.to_json(), created_by=request.user
        )
        return redirect("data_platform:cohort", cohort_id=cohort.pk)
    context = {"definition": definition, "counts": cohorts.counts(definition)}
    if request.htmx:
        return render(request, "data_platform/_counts.html", context)
    context.update(_choices(), saved=Cohort.objects.all()[:50])
    return render(request, "data_platform/cohorts.html", context)


@requires("export_cohorts")
@require_GET
def cohort_detail(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id)
    definition = cohorts.CohortDefinition.from_json(cohort.definition)
    context = {
        "cohort": cohort,
        "counts": cohorts.counts(definition),
        "purposes": Purpose.objects.filter(status=PurposeStatus.APPROVED),
        "pending": Purpose.objects.filter(status=PurposeStatus.PENDING),
        "purpose_kinds": PurposeKind.choices,
    }
    return render(request, "data_platform/cohort.html", context)


@requires("export_cohorts")
@require_POST
def export_create(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id)
    purpose = Purpose.objects.filter(pk=request.POST.get("purpose") or 0).first()
    try:
        purposes.request_export(
            cohort=cohort,
            purpose=purpose,
            reason=request.POST.get("reason", ""),
            user=request.user,
            options={"nifti": request.POST.get("nifti") == "1"},
        )
    except purposes.ExportRefused as refused:
        messages.error(request, _("Export refused: %(reason)s") % {"reason": refused})
        return redirect("data_platform:cohort", cohort_id=cohort.pk)
    return redirect("data_platform:exports")


@requires("export_cohorts")
@require_POST
def purpose_propose(request: HttpRequest) -> HttpResponse:
    purposes.propose_purpose(
        kind=request.POST.get("kind", ""), title=request.POST.get("title", ""), description="", user=request.user
    )
    messages.info(request, _("Purpose sent to an administrator for approval."))
    return redirect(request.POST.get("next") or "data_platform:cohorts")


@requires("export_cohorts")
@require_GET
def export_list(request: HttpRequest) -> HttpResponse:
    exports = Export.objects.select_related("cohort", "purpose")[:50]
    template = "data_platform/_export_rows.html" if request.htmx else "data_platform/exports.html"
    running = any(export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for export in exports)
    return render(request, template, {"exports": exports, "running": running})


@requires("export_cohorts")
@require_POST
def export_resume(request: HttpRequest, export_id: int) -> HttpResponse:
    from data_platform.export_job import run_export

    export = access_export(request.user, export_id)
    if export.status == ExportStatus.FAILED:
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.QUEUED)
        run_export.enqueue(export.pk)
    return redirect("data_platform:exports")


@requires("export_cohorts")
@require_GET
def export_download(request: HttpRequest, export_id: int) -> FileResponse:
    export = access_export(request.user, export_id)
    path = package.package_path(export.pk)
    if export.status != ExportStatus.DONE or not path.exists():
        raise Http404
    DataAccessEvent.objects.create(user=request.user, kind=AccessKind.EXPORT_DOWNLOADED, export=export)
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"cohort-export-{export.pk}.zip")


@requires("build_cohorts")
@require_http_methods(["GET", "POST"])
def mpi_suggestions(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        link_ids = [int(value) for value in request.POST.getlist("links") if value.isdigit()]
        try:
            mpi.confirm_same_person(link_ids=link_ids, user=request.user)
            messages.info(request, _("Records linked to one person."))
        except mpi.MpiError as error:
            messages.error(request, str(error))
        return redirect("data_platform:mpi")
    mpi.index_worklist_patients()
    return render(request, "data_platform/mpi.html", {"suggestions": mpi.suggestions(user=request.user)})


@requires("approve_purposes")
@require_http_methods(["GET", "POST"])
def purpose_approvals(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        purpose = get_object_or_404(Purpose, pk=request.POST.get("purpose") or 0)
        purposes.decide_purpose(purpose=purpose, approve=request.POST.get("decision") == "approve", user=request.user)
        return redirect("data_platform:purposes")
    return render(request, "data_platform/purposes.html", {"purposes": Purpose.objects.all()})


def _choices() -> dict:
    from accounts.models import Site

    return {
        "sites": Site.objects.order_by("code"),
        "areas": ClinicalArea.choices,
        "models": AIModel.objects.order_by("vendor", "product", "version"),
        "verdicts": [(verdict, VERDICT_LABELS[verdict]) for verdict in cohorts.VERDICT_CHOICES],
    }
