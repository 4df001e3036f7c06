"""The study workflow: exclusive claims, release, reassign, idle release, AI-driven priority."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
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


@pytest.fixture
def head(sites):
    return make_user("head", role="department_head", all_sites=True)


def name_readers(first, second):
    first.first_name, first.last_name = "Minjun", "Kim"
    second.first_name, second.last_name = "Seoyeon", "Choi"
    first.save()
    second.save()


WORKFLOW_ACTIONS = (
    AuditAction.STUDY_CLAIMED,
    AuditAction.STUDY_RELEASED,
    AuditAction.STUDY_REASSIGNED,
    AuditAction.STUDY_STATUS_CHANGED,
)


def workflow_audit(study) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action__in=WORKFLOW_ACTIONS, study_uid=study.study_instance_uid).order_by("pk")
    )


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
def test_head_reassigns_a_claimed_study(study, suwon_radiologist, second_suwon_radiologist, head):
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


@pytest.mark.django_db
def test_a_release_is_audited_with_its_reader(study, suwon_radiologist):
    workflow.claim_study(user=suwon_radiologist, study=study)
    workflow.release_study(user=suwon_radiologist, study=study, source="10.0.0.7")
    claimed, released = workflow_audit(study)
    assert (claimed.action, released.action) == (AuditAction.STUDY_CLAIMED, AuditAction.STUDY_RELEASED)
    assert (released.username, released.source, released.detail) == ("kim.suwon", "10.0.0.7", {"reason": "released"})


@pytest.mark.django_db
def test_an_idle_release_is_audited_naming_the_reader_it_took_the_study_from(study, suwon_radiologist, settings):
    settings.CLAIM_IDLE_MINUTES = 30
    workflow.claim_study(user=suwon_radiologist, study=study)
    workflow.release_idle_claims(now=timezone.now() + timedelta(minutes=31))
    released = workflow_audit(study)[-1]
    assert (released.action, released.user) == (AuditAction.STUDY_RELEASED, None)
    assert released.detail == {"reason": "idle", "reader": suwon_radiologist.pk}


@pytest.mark.django_db
def test_a_reassign_back_to_the_list_is_audited(study, suwon_radiologist, head):
    workflow.claim_study(user=suwon_radiologist, study=study)
    study.refresh_from_db()
    back = workflow.reassign_study(by=head, study=study, to=None)
    assert (back.status, back.claimed_by) == (StudyStatus.ARRIVED, None)
    reassigned = workflow_audit(study)[-1]
    assert (reassigned.action, reassigned.username) == (AuditAction.STUDY_REASSIGNED, "head")
    assert reassigned.detail == {"previous_reader": suwon_radiologist.pk, "new_reader": None}


@pytest.mark.django_db
def test_each_change_of_the_ai_status_is_audited_and_new_scores_alone_are_not(study, suwon_radiologist):
    workflow.record_ai_summary(study=study, ai_status=AiStatus.PENDING, summary=[])
    workflow.claim_study(user=suwon_radiologist, study=study)
    # While she reads, the result arrives: the study stays hers, the AI status changes.
    workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[{"score": 40, "urgent": False}])
    workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[{"score": 80, "urgent": True}])
    changes = [(event.action, event.detail) for event in workflow_audit(study)]
    assert changes == [
        (AuditAction.STUDY_STATUS_CHANGED, {"ai_status": "pending", "status": "ai_pending"}),
        (AuditAction.STUDY_CLAIMED, {}),
        (AuditAction.STUDY_STATUS_CHANGED, {"ai_status": "ready"}),
    ]
    study.refresh_from_db()
    assert (study.status, study.ai_status, study.ai_score) == (StudyStatus.IN_READING, AiStatus.READY, 80)
    # Released, it waits as "AI ready": the AI status the row holds now, not when it was claimed.
    assert workflow.release_study(user=suwon_radiologist, study=study).status == StudyStatus.AI_READY


@pytest.mark.django_db
def test_a_release_follows_an_ai_status_that_changed_after_the_study_was_loaded(study, suwon_radiologist):
    workflow.claim_study(user=suwon_radiologist, study=study)
    loaded_before_the_result = Study.objects.get(pk=study.pk)
    workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[])
    released = workflow.release_study(user=suwon_radiologist, study=loaded_before_the_result)
    assert released.status == StudyStatus.AI_READY


def _read_by(study, reader):
    workflow.claim_study(user=reader, study=study)
    workflow.mark_read(user=reader, study=study)
    study.refresh_from_db()


READ_STUDY_MOVES = {
    "release by its reader": lambda study, reader, head: workflow.release_study(user=reader, study=study),
    "reassign to the list": lambda study, reader, head: workflow.reassign_study(by=head, study=study, to=None),
    "reassign to its reader": lambda study, reader, head: workflow.reassign_study(by=head, study=study, to=reader),
    "sign again": lambda study, reader, head: workflow.mark_read(user=reader, study=study),
}


@pytest.mark.django_db
@pytest.mark.parametrize("move", READ_STUDY_MOVES)
def test_a_read_study_is_not_moved_back_by_any_entry_point(move, study, suwon_radiologist, head):
    _read_by(study, suwon_radiologist)
    audited = len(workflow_audit(study))
    with pytest.raises(workflow.WorkflowError) as refused:
        READ_STUDY_MOVES[move](study, suwon_radiologist, head)
    assert refused.value.code == "bad_transition"
    assert refused.value.message.startswith("read cannot become")
    unchanged = Study.objects.get(pk=study.pk)
    assert (unchanged.status, unchanged.version) == (StudyStatus.READ, study.version)
    assert len(workflow_audit(study)) == audited


@pytest.mark.django_db
def test_neither_the_idle_release_nor_an_ai_result_moves_a_read_study(study, suwon_radiologist, settings):
    settings.CLAIM_IDLE_MINUTES = 30
    _read_by(study, suwon_radiologist)
    assert workflow.release_idle_claims(now=timezone.now() + timedelta(days=1)) == 0
    workflow.record_ai_summary(study=study, ai_status=AiStatus.READY, summary=[])
    study.refresh_from_db()
    assert study.status == StudyStatus.READ


def _idle_release(study, reader, head):
    # A release TRANSITIONS refuses leaves the idle claim as it is, without an error.
    if workflow.release_idle_claims(now=timezone.now() + timedelta(days=1)) == 0:
        raise workflow.BadTransition(StudyStatus.IN_READING, StudyStatus.ARRIVED)


@dataclass(frozen=True)
class EntryPoint:
    """An entry point tried on a study in `current` (claimed by the reader first when `claimed`),
    where the one move it makes, to `target`, has been struck from TRANSITIONS."""

    current: str
    target: str
    act: Callable  # (study, reader, head)
    claimed: bool = False


ENTRY_POINTS = {
    "claim": EntryPoint(
        StudyStatus.ARRIVED,
        StudyStatus.IN_READING,
        lambda study, reader, head: workflow.claim_study(user=reader, study=study),
    ),
    "release": EntryPoint(
        StudyStatus.IN_READING,
        StudyStatus.ARRIVED,
        lambda study, reader, head: workflow.release_study(user=reader, study=study),
        claimed=True,
    ),
    "idle release": EntryPoint(StudyStatus.IN_READING, StudyStatus.ARRIVED, _idle_release, claimed=True),
    "reassign to a reader": EntryPoint(
        StudyStatus.ARRIVED,
        StudyStatus.IN_READING,
        lambda study, reader, head: workflow.reassign_study(by=head, study=study, to=reader),
    ),
    "reassign to the list": EntryPoint(
        StudyStatus.IN_READING,
        StudyStatus.ARRIVED,
        lambda study, reader, head: workflow.reassign_study(by=head, study=study, to=None),
        claimed=True,
    ),
    "sign": EntryPoint(
        StudyStatus.IN_READING,
        StudyStatus.READ,
        lambda study, reader, head: workflow.mark_read(user=reader, study=study),
        claimed=True,
    ),
    "AI status": EntryPoint(
        StudyStatus.ARRIVED,
        StudyStatus.AI_PENDING,
        lambda study, reader, head: workflow.record_ai_summary(study=study, ai_status=AiStatus.PENDING, summary=[]),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_refuses_a_move_the_transitions_table_does_not_allow(
    name, study, suwon_radiologist, head, settings, monkeypatch
):
    settings.CLAIM_IDLE_MINUTES = 30
    entry_point = ENTRY_POINTS[name]
    if entry_point.claimed:
        workflow.claim_study(user=suwon_radiologist, study=study)
        study.refresh_from_db()
    current, target = entry_point.current, entry_point.target
    assert study.status == current
    monkeypatch.setitem(workflow.TRANSITIONS, current, workflow.TRANSITIONS[current] - {target})
    audited = len(workflow_audit(study))
    with pytest.raises(workflow.WorkflowError) as refused:
        entry_point.act(study, suwon_radiologist, head)
    assert refused.value.code == "bad_transition"
    assert refused.value.message == f"{current} cannot become {target}"
    unchanged = Study.objects.get(pk=study.pk)
    assert (unchanged.status, unchanged.version) == (current, study.version)
    assert len(workflow_audit(study)) == audited


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_claims_have_exactly_one_winner_in_100_rounds(
    study, suwon_radiologist, second_suwon_radiologist
):
    if connection.vendor != "postgresql":
        pytest.skip("the claim race is run on PostgreSQL (./test --services); SQLite serialises writers")
    name_readers(suwon_radiologist, second_suwon_radiologist)
    readers = [suwon_radiologist, second_suwon_radiologist]
    winners = []
    for _ in range(100):
        Study.objects.filter(pk=study.pk).update(claimed_by=None, status=StudyStatus.ARRIVED)
        barrier = threading.Barrier(2)
        outcomes = {}

        def claim(user, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                workflow.claim_study(user=user, study=Study.objects.get(pk=study.pk))
                outcomes[user.pk] = "won"
            except workflow.ClaimConflict as conflict:
                outcomes[user.pk] = (conflict.owner.pk, str(conflict))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=claim, args=(user,)) for user in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 2 and list(outcomes.values()).count("won") == 1, outcomes
        winner = next(user for user in readers if outcomes[user.pk] == "won")
        loser = next(user for user in readers if user is not winner)
        assert outcomes[loser.pk] == (winner.pk, f"{winner.get_full_name()} is reading this study")
        winners.append(winner.username)
    claims = AuditEvent.objects.filter(action=AuditAction.STUDY_CLAIMED).order_by("pk")
    assert list(claims.values_list("username", flat=True)) == winners
