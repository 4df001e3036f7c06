"""The reading state of a study as the viewer's JSON: every AI finding with its current verdict,
revision and history, the reader's own findings, and whether this user may change any of it."""

from typing import Any

from django.urls import reverse

from accounts.models import User
from ai_overlays.models import Finding
from reading.decisions import decision_histories, study_findings
from reading.edit_rights import read_only_reason
from reading.models import FindingDecision, ReaderFinding, RejectionReason, Report, ReportStatus, Verdict
from reading.reader_findings import active_reader_findings, finding_types
from worklist.models import Study
from worklist.readers import display_name


def reading_state(user: User, study: Study) -> dict[str, Any]:
    histories = decision_histories(study)
    reason = read_only_reason(user, study)
    uid = study.study_instance_uid
    return {
        "study_instance_uid": uid,
        "may_edit": not reason,
        "read_only_reason": reason,
        "claimed_by": display_name(study.claimed_by),
        "report_status": Report.objects.filter(study=study).values_list("status", flat=True).first()
        or ReportStatus.DRAFT,
        "findings": [finding_json(finding, histories.get(finding.pk, []), uid) for finding in study_findings(study)],
        "reader_findings": [reader_finding_json(added, uid) for added in active_reader_findings(study)],
        "rejection_reasons": [{"value": value, "label": str(label)} for value, label in RejectionReason.choices],
        "finding_types": [{"value": slug, "label": name} for slug, name in finding_types(study.clinical_area)],
        "urls": {
            "decisions": reverse("reading:decisions", args=[uid]),
            "reader_findings": reverse("reading:add_reader_finding", args=[uid]),
            "report": reverse("reading:report", args=[uid]),
        },
    }


def finding_json(finding: Finding, history: list[FindingDecision], uid: str) -> dict[str, Any]:
    model = finding.result.ai_model
    current = history[-1] if history else None
    return {
        "id": finding.pk,
        "type": finding.finding_type,
        "label": finding.label,
        "score": finding.score,
        "geometry_kind": finding.geometry_kind,
        "geometry": finding.geometry,
        "series_uid": finding.series_instance_uid,
        "sop_uid": finding.sop_instance_uid,
        "frame": finding.frame,
        "model": {
            "vendor": model.vendor,
            "product": model.product,
            "version": model.version,
            "colour": model.colour,
            "reference": model.is_reference,
        },
        "verdict": current.verdict if current else Verdict.UNDECIDED,
        "revision": current.revision if current else 0,
        "current": decision_json(current) if current else None,
        "history": [decision_json(decision) for decision in history],
        "urls": {
            "decision": reverse("reading:decide", args=[uid, finding.pk]),
            "undo": reverse("reading:undo", args=[uid, finding.pk]),
        },
    }


def decision_json(decision: FindingDecision) -> dict[str, Any]:
    return {
        "revision": decision.revision,
        "verdict": decision.verdict,
        "reason": decision.reason,
        "note": decision.note,
        "geometry_kind": decision.geometry_kind,
        "geometry": decision.geometry,
        "label": decision.label,
        "decided_by": display_name(decision.decided_by),
        "decided_at": decision.decided_at.isoformat(),
    }


def reader_finding_json(added: ReaderFinding, uid: str) -> dict[str, Any]:
    return {
        "id": added.pk,
        "type": added.finding_type,
        "label": added.label,
        "geometry_kind": added.geometry_kind,
        "geometry": added.geometry,
        "series_uid": added.series_instance_uid,
        "sop_uid": added.sop_instance_uid,
        "frame": added.frame,
        "created_by": display_name(added.created_by),
        "created_at": added.created_at.isoformat(),
        "urls": {"remove": reverse("reading:remove_reader_finding", args=[uid, added.pk])},
    }
