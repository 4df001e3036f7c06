"""The reading endpoints: verdicts and added findings as JSON for the viewer, the report as an htmx
panel, signing, addenda and the printable report. Refusals carry a code and a message: 400 invalid,
403 not the reader holding the claim, 409 stale (with who changed it and the current state) or locked."""

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit
from accounts.models import AuditAction
from accounts.permissions import check, requires
from reading.decisions import StaleDecision, access_finding, decide_finding, decision_histories, undo_decision
from reading.edit_rights import ReadingRefused, read_only_reason
from reading.reader_findings import add_reader_finding, remove_reader_finding
from reading.reading_state import finding_json, reader_finding_json, reading_state
from reading.report_forms import ReportForm, nodule_display, structured_display
from reading.reports import ReportEdit, StaleReport, add_addendum, report_content, report_of, save_report, sign_report
from worklist.access import access_study
from worklist.models import Study


@requires("view_ai_results")
@require_GET
def decisions(request: HttpRequest, study_uid: str) -> JsonResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    with transaction.atomic():
        _audit_view(request, study, AuditAction.AI_RESULTS_VIEWED)
        return JsonResponse(reading_state(request.user, study))


@requires("decide_findings")
@require_POST
def decide(request: HttpRequest, study_uid: str, finding_id: int) -> JsonResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    finding = access_finding(study, finding_id)
    try:
        body = _body(request)
        decide_finding(
            user=request.user,
            study=study,
            finding=finding,
            verdict=body.get("verdict", ""),
            reason=body.get("reason") or "",
            note=body.get("note") or "",
            geometry_kind=body.get("geometry_kind") or "",
            geometry=body.get("geometry"),
            label=body.get("label") or "",
            expected_revision=_revision(body),
            source=_source(request),
        )
    except ReadingRefused as error:
        return _refused(error, finding=_finding_state(study, finding) if isinstance(error, StaleDecision) else None)
    return JsonResponse(_finding_state(study, finding))


@requires("decide_findings")
@require_POST
def undo(request: HttpRequest, study_uid: str, finding_id: int) -> JsonResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    finding = access_finding(study, finding_id)
    try:
        body = _body(request)
        undo_decision(
            user=request.user, study=study, finding=finding, expected_revision=_revision(body), source=_source(request)
        )
    except ReadingRefused as error:
        return _refused(error, finding=_finding_state(study, finding) if isinstance(error, StaleDecision) else None)
    return JsonResponse(_finding_state(study, finding))


@requires("decide_findings")
@require_POST
def add_finding(request: HttpRequest, study_uid: str) -> JsonResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    try:
        body = _body(request)
        added = add_reader_finding(
            user=request.user,
            study=study,
            finding_type=body.get("type", ""),
            label=body.get("label") or "",
            geometry_kind=body.get("geometry_kind", ""),
            geometry=body.get("geometry"),
            series_instance_uid=body.get("series_uid") or "",
            sop_instance_uid=body.get("sop_uid") or "",
            frame=body.get("frame", 1),
            source=_source(request),
        )
    except ReadingRefused as error:
        return _refused(error)
    return JsonResponse(reader_finding_json(added, study.study_instance_uid), status=201)


@requires("decide_findings")
@require_POST
def remove_finding(request: HttpRequest, study_uid: str, reader_finding_id: int) -> JsonResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    try:
        remove_reader_finding(
            user=request.user, study=study, reader_finding_id=reader_finding_id, source=_source(request)
        )
    except ReadingRefused as error:
        return _refused(error)
    return JsonResponse({"removed": reader_finding_id})


@requires("view_studies")
@require_http_methods(["GET", "POST"])
def report(request: HttpRequest, study_uid: str) -> HttpResponse:
    """GET: the report panel. POST: save the draft; a stale form is 409 with the saved version in
    the form and the user's own text kept beside it."""
    study = access_study(request.user, study_uid, source=_source(request))
    if request.method == "GET":
        with transaction.atomic():
            _audit_view(request, study, AuditAction.REPORT_VIEWED)
            return _panel(request, study)
    check(request, "sign_reports")
    form = ReportForm(report_of(study), request.POST)
    if not form.is_valid():
        return _panel(request, study, form=form, notice=_("Correct the marked fields."), status=400)
    try:
        save_report(user=request.user, study=study, edit=_edit(form), source=_source(request))
    except StaleReport as stale:
        return _panel(request, study, notice=stale.message, kept=request.POST, status=409)
    except ReadingRefused as error:
        return _panel(request, study, form=form, notice=error.message, status=error.http_status)
    return _panel(request, study, notice=_("Saved."), saved=True)


@requires("sign_reports")
@require_POST
def sign(request: HttpRequest, study_uid: str) -> HttpResponse:
    """Sign; when the form's fields come along they are saved first, in the same transaction."""
    study = access_study(request.user, study_uid, source=_source(request))
    form = ReportForm(report_of(study), request.POST) if "version" in request.POST else None
    if form is not None and not form.is_valid():
        return _panel(request, study, form=form, notice=_("Correct the marked fields."), status=400)
    try:
        sign_report(user=request.user, study=study, edit=_edit(form) if form else None, source=_source(request))
    except StaleReport as stale:
        return _panel(request, study, notice=stale.message, kept=request.POST, status=409)
    except ReadingRefused as error:
        return _panel(request, study, form=form, notice=error.message, status=error.http_status)
    study.refresh_from_db()
    return _panel(request, study, notice=_("Signed. The study is read."), saved=True)


@requires("sign_reports")
@require_POST
def addenda(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    try:
        add_addendum(user=request.user, study=study, text=request.POST.get("text", ""), source=_source(request))
    except ReadingRefused as error:
        return _panel(request, study, notice=error.message, status=error.http_status)
    return _panel(request, study, notice=_("Addendum added."), saved=True)


@requires("view_studies")
@require_GET
def print_report(request: HttpRequest, study_uid: str) -> HttpResponse:
    study = access_study(request.user, study_uid, source=_source(request))
    with transaction.atomic():
        _audit_view(request, study, AuditAction.REPORT_VIEWED, printable=True)
        content = report_content(study)
        context = {
            "study": study,
            "content": content,
            "report": content.report,
            "structured": structured_display(content.report),
            "nodules": nodule_display(content.report),
        }
        return render(request, "reading/report_print.html", context)


def _panel(
    request: HttpRequest,
    study: Study,
    *,
    form: ReportForm | None = None,
    notice: str = "",
    kept: Any = None,
    saved: bool = False,
    status: int = 200,
) -> HttpResponse:
    content = report_content(study)
    context = {
        "study": study,
        "report": content.report,
        "content": content,
        "form": form or ReportForm(content.report),
        "read_only_reason": read_only_reason(request.user, study),
        "notice": notice,
        "notice_is_error": status >= 400,
        "saved": saved,
        "kept": kept,
        "structured": structured_display(content.report),
        "nodules": nodule_display(content.report),
    }
    template = "reading/report_panel.html" if request.htmx else "reading/report.html"
    return render(request, template, context, status=status)


def _edit(form: ReportForm) -> ReportEdit:
    text = form.text.cleaned_data
    return ReportEdit(
        structured=form.cleaned_structured(),
        findings_text=text["findings_text"],
        impression=text["impression"],
        expected_version=form.version,
    )


def _finding_state(study: Study, finding) -> dict[str, Any]:
    history = decision_histories(study).get(finding.pk, [])
    return finding_json(finding, history, study.study_instance_uid)


def _body(request: HttpRequest) -> dict[str, Any]:
    """The viewer posts JSON; a plain form post works too (geometry then as JSON text)."""
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as error:
            raise ReadingRefused("invalid", _("The body is not valid JSON."), http_status=400) from error
        if not isinstance(body, dict):
            raise ReadingRefused("invalid", _("The body must be a JSON object."), http_status=400)
        return body
    body = request.POST.dict()
    if isinstance(body.get("geometry"), str) and body["geometry"]:
        try:
            body["geometry"] = json.loads(body["geometry"])
        except ValueError as error:
            raise ReadingRefused("invalid", _("The geometry is not valid JSON."), http_status=400) from error
    return body


def _revision(body: dict[str, Any]) -> int:
    value = body.get("expected_revision")
    try:
        revision = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        revision = -1
    if isinstance(value, bool) or revision < 0:
        raise ReadingRefused(
            "invalid", _("Send the revision you decided from."), http_status=400, field="expected_revision"
        )
    return revision


def _refused(error: ReadingRefused, **extra: Any) -> JsonResponse:
    body = {"error": error.code, "message": error.message, **error.detail}
    body.update({key: value for key, value in extra.items() if value is not None})
    return JsonResponse(body, status=error.http_status)


def _audit_view(request: HttpRequest, study: Study, action: AuditAction, **detail: Any) -> None:
    audit.record(
        action=action,
        user=request.user,
        source=_source(request),
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail=detail,
    )


def _source(request: HttpRequest) -> str:
    return audit.client_address(request)
