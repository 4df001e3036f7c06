"""The report of a study: saving the draft (a form from an older version is refused, never merged
silently), signing (every AI finding decided; the study becomes read in the same transaction and its
decisions lock), addenda after signing, and the content a report shows and the SR carries.

Nothing the AI said enters the content unless a radiologist accepted or modified it."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.models import AuditAction, User
from ai_overlays.models import Finding
from reading import report_delivery
from reading.decisions import decision_histories, is_decided, study_findings, undecided_findings
from reading.edit_rights import ReadingRefused, check_may_edit
from reading.models import Addendum, FindingDecision, ReaderFinding, Report, ReportStatus, Verdict
from reading.reader_findings import active_reader_findings
from worklist.models import Study
from worklist.readers import display_name
from worklist.workflow import WorkflowError, mark_read

logger = logging.getLogger(__name__)

MAX_ADDENDUM = 5_000
CONFIRMED = (Verdict.ACCEPTED, Verdict.MODIFIED)


class StaleReport(ReadingRefused):
    """Someone saved the report after this form was loaded; `report` is the newer one."""

    def __init__(self, report: Report):
        who = display_name(report.updated_by) or _("Someone")
        message = _(
            "%(name)s saved this report meanwhile. The form now shows the saved version; your text is kept below."
        ) % {"name": who}
        super().__init__("stale", message, changed_by=display_name(report.updated_by), version=report.version)
        self.report = report


@dataclass
class ReportEdit:
    structured: dict[str, Any]
    findings_text: str
    impression: str
    expected_version: int


def report_of(study: Study) -> Report:
    report, _created = Report.objects.get_or_create(study=study, defaults={"clinical_area": study.clinical_area})
    return report


@transaction.atomic
def save_report(*, user: User, study: Study, edit: ReportEdit, source: str = "") -> Report:
    study = check_may_edit(user, study)
    report = _save(user=user, study=study, edit=edit)
    _audit(AuditAction.REPORT_SAVED, user, study, source, version=report.version)
    return report


@transaction.atomic
def sign_report(*, user: User, study: Study, edit: ReportEdit | None = None, source: str = "") -> Report:
    """Sign (saving `edit` first when the form came along). Refused while any AI finding is
    undecided, naming them; afterwards the study is read and the PACS delivery is queued."""
    study = check_may_edit(user, study)
    report = report_of(study)
    if edit is not None:
        report = _save(user=user, study=study, edit=edit)
        _audit(AuditAction.REPORT_SAVED, user, study, source, version=report.version)
    undecided = undecided_findings(study)
    if undecided:
        names = ", ".join(_finding_name(finding) for finding in undecided)
        raise ReadingRefused(
            "undecided_findings",
            _("Decide every AI finding before signing. Undecided: %(names)s") % {"names": names},
            findings=[finding.pk for finding in undecided],
        )
    if not report.impression.strip():
        raise ReadingRefused("impression_required", _("Write the impression before signing."), http_status=400)
    now = timezone.now()
    signed = Report.objects.filter(pk=report.pk, status=ReportStatus.DRAFT).update(
        status=ReportStatus.SIGNED, signed_by=user, signed_at=now, updated_at=now, version=F("version") + 1
    )
    if not signed:
        raise ReadingRefused("signed", _("The report is signed; decisions are locked."))
    try:
        mark_read(user=user, study=study, source=source)
    except WorkflowError as error:
        raise ReadingRefused(error.code, error.message) from error
    report.refresh_from_db()
    _audit(AuditAction.REPORT_SIGNED, user, study, source, version=report.version)
    transaction.on_commit(partial(enqueue_delivery, report.pk))
    return report


@transaction.atomic
def add_addendum(*, user: User, study: Study, text: str, source: str = "") -> Addendum:
    report = Report.objects.select_for_update().filter(study=study).first()
    if report is None or report.status != ReportStatus.SIGNED:
        raise ReadingRefused("not_signed", _("An addendum is added to a signed report; edit the draft instead."))
    text = text.strip() if isinstance(text, str) else ""
    if not text or len(text) > MAX_ADDENDUM:
        message = _("Write the addendum (at most %(n)d characters).") % {"n": MAX_ADDENDUM}
        raise ReadingRefused("invalid", message, http_status=400, field="text")
    addendum = Addendum.objects.create(report=report, text=text, author=user)
    _audit(AuditAction.ADDENDUM_ADDED, user, study, source, addendum=addendum.pk)
    return addendum


def enqueue_delivery(report_id: int) -> None:
    """Queue the SR for the PACS (in-process on the embedded default, a worker's job in production)."""
    report_delivery.deliver_report.enqueue(report_id)


@dataclass
class AssessedFinding:
    """An AI finding with its current verdict; for a modification, the corrected label and geometry."""

    finding: Finding
    decision: FindingDecision | None
    label: str
    geometry_kind: str
    geometry: dict

    @property
    def verdict(self) -> str:
        return self.decision.verdict if self.decision else Verdict.UNDECIDED

    @property
    def model(self):
        return self.finding.result.ai_model


@dataclass
class ReportContent:
    report: Report
    confirmed: list[AssessedFinding]  # accepted and modified: what the report says
    assessments: list[AssessedFinding]  # every AI finding with its verdict: what the SR records
    reader_findings: list[ReaderFinding]
    addenda: list[Addendum] = field(default_factory=list)

    @property
    def signed_at(self) -> datetime | None:
        return self.report.signed_at


def report_content(study: Study) -> ReportContent:
    report = report_of(study)
    histories = decision_histories(study)
    assessments = [_assessed(finding, histories.get(finding.pk, [])) for finding in study_findings(study)]
    return ReportContent(
        report=report,
        confirmed=[item for item in assessments if item.verdict in CONFIRMED],
        assessments=assessments,
        reader_findings=list(active_reader_findings(study)),
        addenda=list(report.addenda.select_related("author")),
    )


def _assessed(finding: Finding, history: list[FindingDecision]) -> AssessedFinding:
    decision = history[-1] if is_decided(history) else None
    modified = decision is not None and decision.verdict == Verdict.MODIFIED
    return AssessedFinding(
        finding=finding,
        decision=decision,
        label=(decision.label if modified and decision.label else finding.label) or finding.finding_type,
        geometry_kind=decision.geometry_kind if modified and decision.geometry_kind else finding.geometry_kind,
        geometry=decision.geometry if modified and decision.geometry_kind else finding.geometry,
    )


def _save(*, user: User, study: Study, edit: ReportEdit) -> Report:
    report = report_of(study)
    now = timezone.now()
    saved = Report.objects.filter(pk=report.pk, version=edit.expected_version, status=ReportStatus.DRAFT).update(
        structured=edit.structured,
        findings_text=edit.findings_text,
        impression=edit.impression,
        updated_by=user,
        updated_at=now,
        version=F("version") + 1,
    )
    report.refresh_from_db()
    if not saved:
        if report.status == ReportStatus.SIGNED:
            raise ReadingRefused("signed", _("The report is signed; decisions are locked."))
        raise StaleReport(report)
    return report


def _finding_name(finding: Finding) -> str:
    return f"{finding.label or finding.finding_type} ({finding.result.ai_model}, #{finding.pk})"


def _audit(action: AuditAction, user: User, study: Study, source: str, **detail) -> None:
    audit.record(
        action=action,
        user=user,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail=detail,
    )
