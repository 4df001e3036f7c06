"""The report: saving with a version (a stale save is refused, never merged), signing only once every
AI finding is decided (the undecided ones named), the study read in the same transaction, the PACS
delivery queued after the commit, addenda after signing, and content with only confirmed AI findings."""

import types

import pytest

from accounts.models import AuditAction, AuditEvent
from reading import report_delivery
from reading.decisions import decide_finding
from reading.edit_rights import ReadingRefused
from reading.models import Report, ReportStatus, Verdict
from reading.reports import ReportEdit, StaleReport, add_addendum, report_content, save_report, sign_report
from tests.conftest import make_user
from tests.reading.reading_setup import claimed_by, reading_case
from worklist.models import Study, StudyStatus


@pytest.fixture
def case(sites):
    return reading_case(sites["SUWON"])


@pytest.fixture
def reader(suwon_radiologist, case):
    claimed_by(suwon_radiologist, case)
    return suwon_radiologist


def edit(version=0, impression="Two solid nodules, Lung-RADS 4A.", **fields):
    return ReportEdit(
        structured=fields.pop("structured", {"lung_rads": "4A"}),
        findings_text=fields.pop("findings_text", ""),
        impression=impression,
        expected_version=version,
    )


def decide_all(user, case, verdict=Verdict.ACCEPTED, **fields):
    for finding in case.findings:
        decide_finding(user=user, study=case.study, finding=finding, verdict=verdict, expected_revision=0, **fields)


def test_saving_bumps_the_version_and_is_audited(case, reader):
    report = save_report(user=reader, study=case.study, edit=edit(0))
    assert (report.version, report.structured, report.updated_by) == (1, {"lung_rads": "4A"}, reader)
    report = save_report(user=reader, study=case.study, edit=edit(1, impression="Changed"))
    assert (report.version, report.impression) == (2, "Changed")
    assert AuditEvent.objects.filter(action=AuditAction.REPORT_SAVED, study_uid=case.uid).count() == 2


def test_a_save_from_an_older_version_is_refused_and_the_newer_text_kept(case, reader):
    save_report(user=reader, study=case.study, edit=edit(0, impression="First tab"))
    with pytest.raises(StaleReport) as stale:
        save_report(user=reader, study=case.study, edit=edit(0, impression="Second tab"))
    assert stale.value.http_status == 409 and "kim.suwon saved this report meanwhile" in stale.value.message
    assert Report.objects.get().impression == "First tab"


def test_signing_is_refused_while_a_finding_is_undecided_and_names_it(case, reader):
    decide_finding(user=reader, study=case.study, finding=case.findings[1], verdict="accepted", expected_revision=0)
    with pytest.raises(ReadingRefused) as refused:
        sign_report(user=reader, study=case.study, edit=edit())
    assert refused.value.code == "undecided_findings"
    assert "Solid nodule 8 mm (Acme LungNet 2.1" in refused.value.message
    assert case.findings[1].pk not in refused.value.detail["findings"]
    assert len(refused.value.detail["findings"]) == len(case.findings) - 1
    assert (Report.objects.filter(status=ReportStatus.SIGNED).exists(), case.study.status) == (
        False,
        StudyStatus.IN_READING,
    )


def test_signing_needs_an_impression(case, reader):
    decide_all(reader, case)
    with pytest.raises(ReadingRefused) as refused:
        sign_report(user=reader, study=case.study, edit=edit(impression="  "))
    assert refused.value.code == "impression_required"


def test_signing_makes_the_study_read_and_queues_the_pacs_delivery_after_commit(
    case, reader, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(report_delivery, "deliver_report", types.SimpleNamespace(enqueue=queued.append))
    decide_all(reader, case)
    with django_capture_on_commit_callbacks(execute=True):
        report = sign_report(user=reader, study=case.study, edit=edit())
    assert (report.status, report.signed_by, report.signed_at is not None) == (ReportStatus.SIGNED, reader, True)
    study = Study.objects.get(pk=case.study.pk)
    assert (study.status, study.read_by) == (StudyStatus.READ, reader)
    assert queued == [report.pk]
    actions = set(AuditEvent.objects.filter(study_uid=case.uid).values_list("action", flat=True))
    assert {AuditAction.REPORT_SIGNED, AuditAction.STUDY_STATUS_CHANGED, AuditAction.REPORT_SAVED} <= actions


def test_only_the_reader_holding_the_claim_signs(case, reader, sites):
    decide_all(reader, case)
    other = make_user("choi.suwon", sites=[sites["SUWON"]])
    with pytest.raises(ReadingRefused) as refused:
        sign_report(user=other, study=case.study, edit=edit())
    assert refused.value.http_status == 403


def test_a_signed_report_cannot_be_saved_or_signed_again(case, reader):
    decide_all(reader, case)
    sign_report(user=reader, study=case.study, edit=edit())
    with pytest.raises(ReadingRefused) as refused:
        save_report(user=reader, study=case.study, edit=edit(2))
    assert refused.value.code == "signed"
    with pytest.raises(ReadingRefused):
        sign_report(user=reader, study=case.study)


def test_addenda_come_after_signing(case, reader):
    with pytest.raises(ReadingRefused) as refused:
        add_addendum(user=reader, study=case.study, text="Too early")
    assert refused.value.code == "not_signed"
    decide_all(reader, case)
    sign_report(user=reader, study=case.study, edit=edit())
    addendum = add_addendum(user=reader, study=case.study, text="Compared with the prior: stable.")
    assert list(report_content(case.study).addenda) == [addendum]
    assert AuditEvent.objects.filter(action=AuditAction.ADDENDUM_ADDED, study_uid=case.uid).count() == 1


def test_the_content_brings_in_accepted_and_modified_findings_with_their_model_never_rejected_ones(case, reader):
    point, box, polygon, box3d, whole = case.findings
    decide_finding(user=reader, study=case.study, finding=point, verdict="accepted", expected_revision=0)
    decide_finding(
        user=reader, study=case.study, finding=box, verdict="modified", label="Part-solid 12 mm", expected_revision=0
    )
    for finding in (polygon, box3d, whole):
        decide_finding(
            user=reader, study=case.study, finding=finding, verdict="rejected", reason="artefact", expected_revision=0
        )
    content = report_content(case.study)
    assert [(item.finding, item.label, item.verdict) for item in content.confirmed] == [
        (point, "Solid nodule 8 mm", "accepted"),
        (box, "Part-solid 12 mm", "modified"),
    ]
    assert {str(item.model) for item in content.confirmed} == {"Acme LungNet 2.1"}
    assert [item.verdict for item in content.assessments] == [
        "accepted",
        "modified",
        "rejected",
        "rejected",
        "rejected",
    ]
