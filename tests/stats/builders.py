"""Raw rows for the statistics tests, written with the ORM the way reading/ writes them (create and
save, so the statistics hooks run), on studies without images: the statistics read no pixels."""

import itertools
from datetime import timedelta

from django.utils import timezone

from accounts.audit import record
from accounts.models import AuditAction
from ai_overlays.models import AIResult, Finding, GeometryKind
from reading.models import FindingDecision, ReaderFinding, Report, ReportStatus
from worklist.models import Patient, Study

_numbers = itertools.count(1)


def make_study(site, *, clinical_area="lung", urgent=False, received_at=None) -> Study:
    number = next(_numbers)
    patient = Patient.objects.create(site=site, patient_id=f"P{number}")
    study = Study.objects.create(
        study_instance_uid=f"1.2.826.0.1.{number}",
        patient=patient,
        site=site,
        clinical_area=clinical_area,
        ai_urgent=urgent,
    )
    if received_at is not None:
        Study.objects.filter(pk=study.pk).update(received_at=received_at)
        study.refresh_from_db()
    return study


def make_result(study, model, *, case_score=None, findings=(), received_at=None) -> tuple[AIResult, list[Finding]]:
    result = AIResult.objects.create(
        study=study, ai_model=model, result_id=f"r{next(_numbers)}", body_sha256="0" * 64, case_score=case_score
    )
    if received_at is not None:
        AIResult.objects.filter(pk=result.pk).update(received_at=received_at)
    made = [
        Finding.objects.create(result=result, finding_type=kind, score=score, geometry_kind=GeometryKind.NONE)
        for kind, score in findings
    ]
    return result, made


def decide(finding, user, verdict, reason="") -> FindingDecision:
    latest = FindingDecision.objects.filter(finding=finding).order_by("-revision").first()
    return FindingDecision.objects.create(
        study=finding.result.study,
        finding=finding,
        revision=(latest.revision if latest else 0) + 1,
        verdict=verdict,
        reason=reason,
        decided_by=user,
    )


def add_miss(study, user, finding_type="nodule") -> ReaderFinding:
    return ReaderFinding.objects.create(
        study=study, finding_type=finding_type, geometry_kind=GeometryKind.NONE, created_by=user
    )


def remove_miss(reader_finding) -> None:
    reader_finding.removed_at = timezone.now()
    reader_finding.save(update_fields=["removed_at"])


def sign(study, user, *, claimed_after=timedelta(minutes=5), signed_after=timedelta(minutes=20)) -> Report:
    """Sign the way reading.reports.sign_report does: an .update() (no signal), then the audit row."""
    Study.objects.filter(pk=study.pk).update(claimed_by=user, claimed_at=study.received_at + claimed_after)
    report, _ = Report.objects.get_or_create(study=study, defaults={"clinical_area": study.clinical_area})
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.SIGNED, signed_by=user, signed_at=study.received_at + signed_after, impression="x"
    )
    record(
        action=AuditAction.REPORT_SIGNED, user=user, study_uid=study.study_instance_uid, patient_ref=study.patient_id
    )
    return report
