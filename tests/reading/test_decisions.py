"""Verdicts on AI findings: accept, reject with a reason, modify inside the image, undo until the
report is signed; the history only grows; a verdict from an old revision is refused as stale,
naming who decided first; only the reader holding the claim may decide."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditAction, AuditEvent
from reading.decisions import StaleDecision, decide_finding, undecided_findings, undo_decision
from reading.edit_rights import ReadingRefused
from reading.models import FindingDecision, Verdict
from reading.reports import ReportEdit, sign_report
from tests.conftest import make_user
from tests.reading.reading_setup import claimed_by, reading_case
from worklist.workflow import reassign_study


@pytest.fixture
def case(sites):
    return reading_case(sites["SUWON"])


@pytest.fixture
def reader(suwon_radiologist, case):
    claimed_by(suwon_radiologist, case)
    return suwon_radiologist


def decide(user, case, index=0, *, revision=0, verdict=Verdict.ACCEPTED, **fields):
    return decide_finding(
        user=user, study=case.study, finding=case.findings[index], verdict=verdict, expected_revision=revision, **fields
    )


def history(case, index=0):
    return list(
        FindingDecision.objects.filter(finding=case.findings[index])
        .order_by("revision")
        .values_list("revision", "verdict", "reason", "note", "decided_by__username")
    )


def test_accepting_a_finding_stores_revision_one_and_audits_it(case, reader):
    decision = decide(reader, case)
    assert (decision.revision, decision.verdict, decision.decided_by) == (1, Verdict.ACCEPTED, reader)
    event = AuditEvent.objects.get(action=AuditAction.FINDING_DECIDED)
    assert event.user == reader and event.study_uid == case.uid
    assert event.detail["finding"] == case.findings[0].pk and event.detail["verdict"] == "accepted"


def test_rejecting_needs_a_reason_from_the_list(case, reader):
    with pytest.raises(ReadingRefused) as refused:
        decide(reader, case, verdict=Verdict.REJECTED)
    assert (refused.value.code, refused.value.http_status, refused.value.detail["field"]) == ("invalid", 400, "reason")
    with pytest.raises(ReadingRefused):
        decide(reader, case, verdict=Verdict.REJECTED, reason="looked-wrong")
    decision = decide(reader, case, verdict=Verdict.REJECTED, reason="artefact", note="Motion")
    assert (decision.reason, decision.note) == ("artefact", "Motion")


def test_rejecting_for_another_reason_needs_a_note(case, reader):
    with pytest.raises(ReadingRefused) as refused:
        decide(reader, case, verdict=Verdict.REJECTED, reason="other")
    assert refused.value.detail["field"] == "note"


def test_a_modified_box_is_stored_when_inside_the_image(case, reader):
    decision = decide(
        reader, case, 1, verdict=Verdict.MODIFIED, geometry_kind="box", geometry={"box": [2, 2, 9, 9.5]}, label="8 mm"
    )
    assert (decision.geometry_kind, decision.geometry, decision.label) == ("box", {"box": [2, 2, 9, 9.5]}, "8 mm")


def test_a_modified_box_outside_the_image_is_refused_like_the_ai_intake_refuses_it(case, reader):
    with pytest.raises(ReadingRefused) as refused:
        decide(reader, case, 1, verdict=Verdict.MODIFIED, geometry_kind="box", geometry=[2, 2, 17, 9])
    assert (refused.value.http_status, refused.value.detail["field"]) == (400, "geometry")
    assert "Outside the image (16 x 16)" in refused.value.message
    assert not FindingDecision.objects.exists()


def test_a_3d_box_finding_is_corrected_with_a_3d_box_only(case, reader):
    with pytest.raises(ReadingRefused):
        decide(reader, case, 3, verdict=Verdict.MODIFIED, geometry_kind="box", geometry=[1, 1, 4, 4])
    decision = decide(
        reader, case, 3, verdict=Verdict.MODIFIED, geometry_kind="box3d", geometry={"min": [1, 1, 0], "max": [5, 5, 1]}
    )
    assert decision.geometry == {"min": [1.0, 1.0, 0], "max": [5.0, 5.0, 1]}


def test_a_modification_must_change_something(case, reader):
    with pytest.raises(ReadingRefused) as refused:
        decide(reader, case, 0, verdict=Verdict.MODIFIED, label=case.findings[0].label)
    assert refused.value.detail["field"] == "geometry"


def test_undo_returns_the_finding_to_undecided_as_a_new_revision(case, reader):
    decide(reader, case)
    undone = undo_decision(user=reader, study=case.study, finding=case.findings[0], expected_revision=1)
    assert (undone.revision, undone.verdict) == (2, Verdict.UNDECIDED)
    assert case.findings[0] in undecided_findings(case.study)
    with pytest.raises(ReadingRefused) as refused:
        undo_decision(user=reader, study=case.study, finding=case.findings[0], expected_revision=2)
    assert refused.value.code == "nothing_to_undo"


def test_the_history_only_grows_and_no_decision_row_is_ever_updated(case, reader):
    decide(reader, case, verdict=Verdict.REJECTED, reason="artefact")
    first = history(case)
    with CaptureQueriesContext(connection) as queries:
        undo_decision(user=reader, study=case.study, finding=case.findings[0], expected_revision=1)
        decide(reader, case, revision=2)
    assert history(case)[:1] == first
    assert [row[:2] for row in history(case)] == [(1, "rejected"), (2, "undecided"), (3, "accepted")]
    writes = [query["sql"] for query in queries if "reading_findingdecision" in query["sql"]]
    assert not [sql for sql in writes if sql.lstrip().upper().startswith(("UPDATE", "DELETE"))]


def test_a_verdict_from_an_old_revision_is_stale_and_names_who_decided_first(case, reader, sites):
    hub = make_user("park.anseong", sites=[sites["ANSEONG"]], all_sites=True)
    head = make_user("jung.head", role="department_head", all_sites=True)
    # Kim's screen shows revision 0; meanwhile the study goes to Park, who decides, and comes back.
    reassign_study(by=head, study=case.study, to=hub)
    decide(hub, case)
    reassign_study(by=head, study=case.study, to=reader)
    with pytest.raises(StaleDecision) as stale:
        decide(reader, case, verdict=Verdict.REJECTED, reason="benign")
    assert stale.value.http_status == 409
    assert stale.value.detail["changed_by"] == "park.anseong"
    assert (stale.value.current.revision, stale.value.current.verdict) == (1, Verdict.ACCEPTED)
    assert [row[:2] for row in history(case)] == [(1, "accepted")]


def test_a_reader_without_the_claim_may_not_decide(case, reader, sites):
    other = make_user("choi.suwon", sites=[sites["SUWON"]])
    with pytest.raises(ReadingRefused) as refused:
        decide(other, case)
    assert (refused.value.code, refused.value.http_status) == ("not_your_claim", 403)
    assert "kim.suwon is reading this study" in refused.value.message


def test_decisions_lock_when_the_report_is_signed(case, reader):
    for index in range(len(case.findings)):
        decide(reader, case, index)
    sign_report(
        user=reader,
        study=case.study,
        edit=ReportEdit(structured={}, findings_text="", impression="Nodules.", expected_version=0),
    )
    with pytest.raises(ReadingRefused) as refused:
        undo_decision(user=reader, study=case.study, finding=case.findings[0], expected_revision=1)
    assert (refused.value.code, refused.value.http_status) == ("signed", 409)
    with pytest.raises(ReadingRefused):
        decide(reader, case, 1, revision=1, verdict=Verdict.REJECTED, reason="benign")
    assert FindingDecision.objects.count() == len(case.findings)
