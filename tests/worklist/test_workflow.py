"""The study workflow: exclusive claims, release, reassign, idle release, AI-driven priority."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from pydicom.data import get_testdata_file

from accounts.models import AuditAction, AuditEvent
from tests.conftest import make_user
from worklist import workflow
from worklist.ingest import ingest
from worklist.models import AiStatus, Study, StudyStatus


@pytest.fixture
def study(sites):
    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        ingest(handle.read(), site=sites["SUWON"], source="test")
    return Study.objects.get()


@pytest.fixture
def second_suwon_radiologist(sites):
    return make_user("choi.suwon", sites=[sites["SUWON"]])


@pytest.mark.django_db
def test_claim_is_exclusive_and_the_loser_is_told_who_reads(study, suwon_radiologist, second_suwon_radiologist):
    suwon_radiologist.first_name, suwon_radiologist.last_name = "Minjun", "Kim"
    suwon_radiologist.save()
    workflow.claim_study(user=suwon_radiologist, study=study)
    with pytest.raises(workflow.ClaimConflict, match="Minjun Kim is reading this study") as conflict:
        workflow.claim_study(user=second_suwon_radiologist, study=study)
    assert conflict.value.http_status == 409
    study.refresh_from_db()
    assert (study.status, study.claimed_by) == (
        StudyStatus.IN_READING,
        suwon_radiologist,
    )
    assert AuditEvent.objects.filter(action=AuditAction.STUDY_CLAIMED).count() == 1


@pytest.mark.django_db
def test_claiming_ones_own_study_again_changes_nothing(study, suwon_radiologist):
    first = workflow.claim_study(user=suwon_radiologist, study=study)
    again = workflow.claim_study(user=suwon_radiologist, study=study)
    assert again.version == first.version


@pytest.mark.django_db
def test_release_returns_the_study_to_its_ai_waiting_status(study, suwon_radiologist, second_suwon_radiologist):
    workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[])
    workflow.claim_study(user=suwon_radiologist, study=study)
    with pytest.raises(workflow.WorkflowError):
        workflow.release_study(user=second_suwon_radiologist, study=study)
    released = workflow.release_study(user=suwon_radiologist, study=study)
    assert (released.status, released.claimed_by) == (StudyStatus.AI_READY, None)


@pytest.mark.django_db
def test_head_reassigns_a_claimed_study(study, suwon_radiologist, second_suwon_radiologist, sites):
    head = make_user("head", role="department_head", all_sites=True)
    workflow.claim_study(user=suwon_radiologist, study=study)
    study.refresh_from_db()
    moved = workflow.reassign_study(by=head, study=study, to=second_suwon_radiologist)
    assert moved.claimed_by == second_suwon_radiologist
    event = AuditEvent.objects.get(action=AuditAction.STUDY_REASSIGNED)
    assert event.detail == {
        "previous_reader": suwon_radiologist.pk,
        "new_reader": second_suwon_radiologist.pk,
    }


@pytest.mark.django_db
def test_an_idle_claim_is_released_automatically(study, suwon_radiologist, settings):
    settings.CLAIM_IDLE_MINUTES = 30
    workflow.claim_study(user=suwon_radiologist, study=study)
    assert workflow.release_idle_claims(now=timezone.now() + timedelta(minutes=29)) == 0
    assert workflow.release_idle_claims(now=timezone.now() + timedelta(minutes=31)) == 1
    study.refresh_from_db()
    assert (study.status, study.claimed_by) == (StudyStatus.ARRIVED, None)


@pytest.mark.django_db
def test_an_urgent_ai_flag_puts_the_study_first_and_stat_second(study, settings):
    settings.WORKLIST_PRIORITY_ORDER = ["ai_urgent", "stat"]
    assert study.priority == 2
    summary = [
        {
            "model": "Stroke triage",
            "vendor": "V",
            "version": "1",
            "score": 93,
            "urgent": True,
        }
    ]
    flagged = workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=summary)
    assert (flagged.priority, flagged.ai_urgent, flagged.ai_score, flagged.status) == (
        0,
        True,
        93,
        "ai_ready",
    )
    Study.objects.filter(pk=study.pk).update(is_stat=True)
    study.refresh_from_db()
    calm = workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[{"score": 10, "urgent": False}])
    assert calm.priority == 1


@pytest.mark.django_db
def test_a_read_study_cannot_be_claimed(study, suwon_radiologist, second_suwon_radiologist):
    workflow.claim_study(user=suwon_radiologist, study=study)
    workflow.mark_read(user=suwon_radiologist, study=study)
    with pytest.raises(workflow.WorkflowError, match="has been read"):
        workflow.claim_study(user=second_suwon_radiologist, study=study)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_claims_have_exactly_one_winner_in_100_rounds(
    study, suwon_radiologist, second_suwon_radiologist
):
    if connection.vendor != "postgresql":
        pytest.skip("the claim race is run on PostgreSQL (./test --services); SQLite serialises writers")
    readers = [suwon_radiologist, second_suwon_radiologist]
    for _ in range(100):
        Study.objects.filter(pk=study.pk).update(claimed_by=None, status=StudyStatus.ARRIVED)
        barrier = threading.Barrier(2)
        outcomes = []

        def claim(user, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                workflow.claim_study(user=user, study=Study.objects.get(pk=study.pk))
                outcomes.append("won")
            except workflow.ClaimConflict:
                outcomes.append("409")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=claim, args=(user,)) for user in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["409", "won"]
