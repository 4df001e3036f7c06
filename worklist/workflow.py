"""The study workflow: every status change happens here, as a conditional UPDATE (one winner when
two people act at once) that moves only where TRANSITIONS allows, audited in the same transaction
and announced after the commit."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts import audit
from accounts.models import AuditAction, User
from worklist import live
from worklist.models import AiStatus, Study, StudyStatus
from worklist.priority import priority_of

# What each status may become. Claim and release move between the waiting states and reading.
TRANSITIONS: dict[str, frozenset[str]] = {
    # A result can arrive unannounced (a DICOM SEG from a modality-side engine): arrived -> ready.
    StudyStatus.ARRIVED: frozenset(
        {StudyStatus.AI_PENDING, StudyStatus.AI_READY, StudyStatus.AI_FAILED, StudyStatus.NO_AI, StudyStatus.IN_READING}
    ),
    StudyStatus.AI_PENDING: frozenset({StudyStatus.AI_READY, StudyStatus.AI_FAILED, StudyStatus.IN_READING}),
    StudyStatus.AI_READY: frozenset({StudyStatus.AI_PENDING, StudyStatus.IN_READING}),
    # A vendor's result can still arrive after its job was given up on.
    StudyStatus.AI_FAILED: frozenset({StudyStatus.AI_PENDING, StudyStatus.AI_READY, StudyStatus.IN_READING}),
    StudyStatus.NO_AI: frozenset({StudyStatus.AI_PENDING, StudyStatus.AI_READY, StudyStatus.IN_READING}),
    StudyStatus.IN_READING: frozenset(
        {
            StudyStatus.READ,
            StudyStatus.ARRIVED,
            StudyStatus.AI_PENDING,
            StudyStatus.AI_READY,
            StudyStatus.AI_FAILED,
            StudyStatus.NO_AI,
        }
    ),
    StudyStatus.READ: frozenset(),
}
WAITING_STATUS_FOR_AI = {
    AiStatus.NONE: StudyStatus.ARRIVED,
    AiStatus.PENDING: StudyStatus.AI_PENDING,
    AiStatus.READY: StudyStatus.AI_READY,
    AiStatus.FAILED: StudyStatus.AI_FAILED,
    AiStatus.NO_AI: StudyStatus.NO_AI,
}


def may_become(current: str, target: str) -> bool:
    """Whether TRANSITIONS lets a study in `current` become `target`."""
    return target in TRANSITIONS[current]


def _rows_that_may_become(target: str) -> Q:
    """The rows TRANSITIONS lets become `target`, as the condition of an UPDATE: the table is
    checked by the statement that moves the row, so a concurrent change cannot slip between."""
    return Q(status__in=[current for current, targets in TRANSITIONS.items() if target in targets])


def _back_to_waiting(*, staying: bool = False) -> tuple[Q, Case]:
    """The condition and the new status of a study going back to the list: the waiting status of
    its AI status as the row holds it at the UPDATE (a result may have come in since it was read).
    `staying`: a study already in that waiting status may stay in it (no move)."""
    allowed = Q()
    for ai_status, waiting in WAITING_STATUS_FOR_AI.items():
        moves = _rows_that_may_become(waiting)
        if staying:
            moves |= Q(status=waiting)
        allowed |= Q(ai_status=ai_status) & moves
    status = Case(*(When(ai_status=ai, then=Value(waiting)) for ai, waiting in WAITING_STATUS_FOR_AI.items()))
    return allowed, status


class WorkflowError(Exception):
    """A refused change; `code` is machine-readable, `http_status` what an API answers."""

    http_status = 409

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class BadTransition(WorkflowError):
    def __init__(self, current: str, target: str):
        super().__init__("bad_transition", f"{current} cannot become {target}")


class ClaimConflict(WorkflowError):
    def __init__(self, owner: User):
        name = owner.get_full_name() or owner.get_username()
        super().__init__("claimed_by_other", f"{name} is reading this study")
        self.owner = owner


def _changed(study: Study, kind: str) -> None:
    live.announce_study_change(study_id=study.pk, site_id=study.site_id, version=study.version, kind=kind)


def _audit(action: AuditAction, *, actor: User | None, study: Study, source: str, **detail) -> None:
    audit.record(
        action=action,
        user=actor,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        detail=detail,
    )


@transaction.atomic
def claim_study(*, user: User, study: Study, source: str = "") -> Study:
    """Take the study for reading. Exactly one of two simultaneous claims wins; the other gets
    ClaimConflict naming the reader. Claiming one's own study again is a no-op."""
    now = timezone.now()
    claimed = Study.objects.filter(
        _rows_that_may_become(StudyStatus.IN_READING), pk=study.pk, claimed_by__isnull=True
    ).update(
        claimed_by=user,
        claimed_at=now,
        last_activity_at=now,
        status=StudyStatus.IN_READING,
        version=F("version") + 1,
    )
    study.refresh_from_db()
    if not claimed:
        if study.status == StudyStatus.READ:
            raise WorkflowError("already_read", "this study has been read")
        if study.claimed_by_id == user.pk:
            return study
        if study.claimed_by_id is not None:
            raise ClaimConflict(study.claimed_by)
        raise BadTransition(study.status, StudyStatus.IN_READING)
    _audit(AuditAction.STUDY_CLAIMED, actor=user, study=study, source=source)
    _changed(study, "claimed")
    return study


@transaction.atomic
def release_study(*, user: User, study: Study, source: str = "", reason: str = "released") -> Study:
    """Give the study back to the worklist; only its reader may (reassign is for heads)."""
    allowed, waiting = _back_to_waiting()
    released = Study.objects.filter(allowed, pk=study.pk, claimed_by=user, status=StudyStatus.IN_READING).update(
        claimed_by=None, claimed_at=None, status=waiting, version=F("version") + 1
    )
    study.refresh_from_db()
    if not released:
        if study.claimed_by_id != user.pk:
            raise WorkflowError("not_your_claim", "this study is not claimed by you")
        raise BadTransition(study.status, _waiting_status(study))
    _audit(AuditAction.STUDY_RELEASED, actor=user, study=study, source=source, reason=reason)
    _changed(study, "released")
    return study


@transaction.atomic
def reassign_study(*, by: User, study: Study, to: User | None, source: str = "") -> Study:
    """A department head gives a study to another radiologist (or back to the worklist)."""
    now = timezone.now()
    previous = study.claimed_by_id
    if to is not None:
        target = StudyStatus.IN_READING
        allowed = _rows_that_may_become(target) | Q(status=target)  # from one reader to another: no move
        changes = {"claimed_by": to, "claimed_at": now, "last_activity_at": now, "status": target}
    else:
        target = _waiting_status(study)
        allowed, waiting = _back_to_waiting(staying=True)
        changes = {"claimed_by": None, "claimed_at": None, "status": waiting}
    updated = Study.objects.filter(allowed, pk=study.pk, version=study.version).update(
        version=F("version") + 1, **changes
    )
    version_seen = study.version
    study.refresh_from_db()
    if not updated:
        if study.version != version_seen:
            raise WorkflowError("stale", "the study changed meanwhile; look again and retry")
        raise BadTransition(study.status, target)
    _audit(
        AuditAction.STUDY_REASSIGNED,
        actor=by,
        study=study,
        source=source,
        previous_reader=previous,
        new_reader=to.pk if to else None,
    )
    _changed(study, "reassigned")
    return study


def release_idle_claims(*, now=None) -> int:
    """Release claims with no activity for CLAIM_IDLE_MINUTES; returns how many. A claim whose
    release TRANSITIONS refuses is left as it is."""
    if settings.CLAIM_IDLE_MINUTES <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(minutes=settings.CLAIM_IDLE_MINUTES)
    idle = Study.objects.filter(status=StudyStatus.IN_READING).filter(
        Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, claimed_at__lt=cutoff)
    )
    allowed, waiting = _back_to_waiting()
    count = 0
    for study in idle.select_related("claimed_by"):
        reader = study.claimed_by_id
        with transaction.atomic():
            released = Study.objects.filter(
                allowed, pk=study.pk, version=study.version, status=StudyStatus.IN_READING
            ).update(claimed_by=None, claimed_at=None, status=waiting, version=F("version") + 1)
            if released:
                study.refresh_from_db()
                _audit(AuditAction.STUDY_RELEASED, actor=None, study=study, source="", reason="idle", reader=reader)
                _changed(study, "released")
                count += 1
    return count


def touch_claim(*, user: User, study: Study) -> None:
    """The reader is still at work (viewer activity): keeps the claim from idling out."""
    Study.objects.filter(pk=study.pk, claimed_by=user).update(last_activity_at=timezone.now())


@transaction.atomic
def mark_read(*, user: User, study: Study, source: str = "") -> Study:
    """The report is signed: the study leaves the worklist's unread views."""
    now = timezone.now()
    updated = Study.objects.filter(
        _rows_that_may_become(StudyStatus.READ), pk=study.pk, claimed_by=user, status=StudyStatus.IN_READING
    ).update(status=StudyStatus.READ, read_by=user, read_at=now, version=F("version") + 1)
    study.refresh_from_db()
    if not updated:
        if study.claimed_by_id != user.pk:
            raise WorkflowError("not_your_claim", "only the reader who claimed this study can sign it")
        raise BadTransition(study.status, StudyStatus.READ)
    _audit(AuditAction.STUDY_STATUS_CHANGED, actor=user, study=study, source=source, status=StudyStatus.READ)
    _changed(study, "read")
    return study


@transaction.atomic
def record_ai_summary(*, study: Study, ai_status: str, summary: list[dict]) -> Study:
    """Set the AI columns (ai_overlays calls this): per-model flags and scores, the study's
    priority, and its waiting status when nobody is reading it. A change of the AI status or of
    the study's status is audited; new scores alone are not (their result was, on arrival)."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    urgent = any(entry.get("urgent") for entry in summary)
    scores = [entry["score"] for entry in summary if entry.get("score") is not None]
    new_status = study.status
    if study.status not in (StudyStatus.IN_READING, StudyStatus.READ):
        new_status = WAITING_STATUS_FOR_AI[AiStatus(ai_status)]
        if new_status != study.status and not may_become(study.status, new_status):
            raise BadTransition(study.status, new_status)
    changes = {}
    if ai_status != study.ai_status:
        changes["ai_status"] = ai_status
    if new_status != study.status:
        changes["status"] = new_status
    if changes:
        _audit(AuditAction.STUDY_STATUS_CHANGED, actor=None, study=study, source="", **changes)
    study.ai_status = ai_status
    study.ai_summary = summary
    study.ai_urgent = urgent
    study.ai_score = max(scores) if scores else None
    study.priority = priority_of(ai_urgent=urgent, is_stat=study.is_stat)
    study.status = new_status
    study.version += 1
    study.save()
    _changed(study, "ai")
    return study


def _waiting_status(study: Study) -> str:
    return WAITING_STATUS_FOR_AI[AiStatus(study.ai_status)]
