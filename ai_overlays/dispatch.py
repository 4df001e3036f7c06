"""Sending studies to the AI engines: which engines apply to a study, the sweep that sends each
study once no instance has arrived for AI_STABLE_SECONDS, and the job states with their retries.

A job is one study for one engine (unique together), created with get_or_create so two sweeps
at once make one job. Jobs are enqueued (tasks.run_ai_job) only after the commit that made them.
A queued job carries a lease in next_attempt_at: if its task is lost (a worker killed, an enqueue
that failed) the job falls due again and retry_due_jobs sends it anew."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from ai_overlays.engine_client import study_modalities
from ai_overlays.models import AIEngine, AIJob, AIModel, JobStatus
from ai_overlays.study_summary import refresh_study_ai
from worklist.models import AiStatus, Study
from worklist.workflow import record_ai_summary

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
# How long a queued job may take before it counts as lost and is sent again.
QUEUED_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class SweepReport:
    studies: int  # studies sent (or found to have no AI)
    retried: int  # jobs sent again


class EngineCatalogue:
    """The active engines with their sites and active models, read once per sweep: a handful of
    rows, so each study is matched in memory instead of by a query of its own."""

    def __init__(self) -> None:
        engines = AIEngine.objects.filter(is_active=True).prefetch_related(
            "sites", Prefetch("ai_models", queryset=AIModel.objects.filter(is_active=True))
        )
        self._entries = [
            (engine, {site.pk for site in engine.sites.all()}, list(engine.ai_models.all())) for engine in engines
        ]

    def engines_for(self, study: Study) -> list[AIEngine]:
        modalities = set(study_modalities(study))
        return [
            engine
            for engine, site_ids, models in self._entries
            if study.site_id in site_ids
            and any(
                model.clinical_area == study.clinical_area and modalities & set(model.modality_list())
                for model in models
            )
        ]


def engines_for(study: Study) -> list[AIEngine]:
    """Active engines serving the study's site that run an active model of its clinical area
    reading one of its modalities."""
    return EngineCatalogue().engines_for(study)


def sweep(now: datetime | None = None) -> SweepReport:
    """One pass of the dispatcher: send the stable studies, then the jobs due for a retry."""
    return SweepReport(studies=dispatch_stable_studies(now), retried=retry_due_jobs(now))


def dispatch_stable_studies(now: datetime | None = None) -> int:
    """Send every never-sent study whose last instance arrived AI_STABLE_SECONDS ago or earlier;
    a study no engine applies to becomes "no AI". Returns how many studies this sweep handled."""
    now = now or timezone.now()
    stable = Study.objects.filter(
        ai_status=AiStatus.NONE, last_received_at__lte=now - timedelta(seconds=settings.AI_STABLE_SECONDS)
    ).order_by("last_received_at", "pk")
    catalogue = EngineCatalogue()
    handled = 0
    after: tuple[datetime, int] | None = None
    while True:
        # Keyset pages: a study that fails to send stays behind without stalling the sweep.
        page = stable
        if after is not None:
            page = page.filter(Q(last_received_at__gt=after[0]) | Q(last_received_at=after[0], pk__gt=after[1]))
        batch = list(page.values_list("last_received_at", "pk")[:BATCH_SIZE])
        for _, study_id in batch:
            try:
                handled += _send_study(study_id, catalogue=catalogue, now=now)
            except Exception:
                logger.exception("AI dispatch of study %s failed", study_id)
        if len(batch) < BATCH_SIZE:
            return handled
        after = batch[-1]


def _send_study(study_id: int, *, catalogue: EngineCatalogue, now: datetime) -> bool:
    with transaction.atomic():
        # Locked and re-checked: a concurrent sweep that sent it first is seen here (PostgreSQL
        # waits for its commit; SQLite's IMMEDIATE transactions take turns).
        study = Study.objects.select_for_update().filter(pk=study_id, ai_status=AiStatus.NONE).first()
        if study is None:
            return False
        engines = catalogue.engines_for(study)
        if not engines:
            record_ai_summary(study=study, ai_status=AiStatus.NO_AI, summary=[])
            return True
        queued = [job_id for engine in engines if (job_id := _create_job(study, engine, now=now))]
        refresh_study_ai(study)
        _enqueue_after_commit(queued)
    logger.info("study %s sent to %d AI engine(s)", study_id, len(engines))
    return True


def _create_job(study: Study, engine: AIEngine, *, now: datetime) -> int | None:
    """The new job's id, or None when a concurrent sweep made it first (the unique constraint decides)."""
    job, created = AIJob.objects.get_or_create(
        study=study, engine=engine, defaults={"next_attempt_at": now + QUEUED_LEASE}
    )
    return job.pk if created else None


def resend(study: Study) -> int:
    """Send the study again to every engine that applies now (an admin action): its jobs start
    over with no attempts. Returns how many jobs were queued."""
    now = timezone.now()
    catalogue = EngineCatalogue()
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        engines = catalogue.engines_for(study)
        if not engines:
            record_ai_summary(study=study, ai_status=AiStatus.NO_AI, summary=[])
            return 0
        queued = []
        for engine in engines:
            job, created = AIJob.objects.get_or_create(
                study=study, engine=engine, defaults={"next_attempt_at": now + QUEUED_LEASE}
            )
            if not created:
                AIJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.PENDING, attempts=0, reason="", next_attempt_at=now + QUEUED_LEASE, updated_at=now
                )
            queued.append(job.pk)
        refresh_study_ai(study)
        _enqueue_after_commit(queued)
    logger.info("study %s resent to %d AI engine(s)", study.pk, len(queued))
    return len(queued)


def retry_due_jobs(now: datetime | None = None) -> int:
    """Enqueue again the pending jobs whose next attempt is due; returns how many."""
    now = now or timezone.now()
    due = AIJob.objects.filter(status=JobStatus.PENDING, next_attempt_at__lte=now).order_by("pk")
    retried = 0
    last_id = 0
    while batch := list(due.filter(pk__gt=last_id).values_list("pk", flat=True)[:BATCH_SIZE]):
        for job_id in batch:
            # Conditional: of two dispatchers at once, one takes the job; the lease keeps it
            # from falling due again while it runs.
            taken = AIJob.objects.filter(pk=job_id, status=JobStatus.PENDING, next_attempt_at__lte=now).update(
                next_attempt_at=now + QUEUED_LEASE, updated_at=now
            )
            if taken:
                _enqueue([job_id])
                retried += 1
        last_id = batch[-1]
    return retried


def mark_sent(job_id: int) -> bool:
    """The engine has the notice; its result will come through the intake API."""
    return _finish(job_id, status=JobStatus.SENT)


def mark_done(job_id: int) -> bool:
    """The engine ran here and its results are stored (store_result marks a job done too)."""
    return _finish(job_id, status=JobStatus.DONE)


def _finish(job_id: int, *, status: str) -> bool:
    with transaction.atomic():
        # Only from pending: a result that arrived before the engine's 2xx has made it done already.
        changed = AIJob.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
            status=status, reason="", next_attempt_at=None, updated_at=timezone.now()
        )
        if changed:
            _refresh_after_commit(job_id)
    return bool(changed)


def record_failure(job_id: int, reason: str, *, now: datetime | None = None) -> AIJob | None:
    """Count a failed attempt: due again after AI_RETRY_SECONDS, doubling each time, and failed
    for good after AI_MAX_ATTEMPTS. `reason` must hold no patient data."""
    now = now or timezone.now()
    with transaction.atomic():
        job = AIJob.objects.select_for_update().filter(pk=job_id, status=JobStatus.PENDING).first()
        if job is None:
            return None
        job.attempts += 1
        job.reason = reason[:300]
        if job.attempts >= settings.AI_MAX_ATTEMPTS:
            job.status = JobStatus.FAILED
            job.next_attempt_at = None
        else:
            job.next_attempt_at = now + timedelta(seconds=settings.AI_RETRY_SECONDS * 2 ** (job.attempts - 1))
        job.save(update_fields=["attempts", "reason", "status", "next_attempt_at", "updated_at"])
        _refresh_after_commit(job_id)
    logger.warning("AI job %s attempt %d failed: %s", job_id, job.attempts, job.reason)
    return job


def _refresh_after_commit(job_id: int) -> None:
    study_id = AIJob.objects.filter(pk=job_id).values_list("study_id", flat=True).first()
    transaction.on_commit(partial(_refresh_study, study_id), robust=True)


def _refresh_study(study_id: int) -> None:
    study = Study.objects.filter(pk=study_id).first()
    if study is not None:
        refresh_study_ai(study)


def _enqueue_after_commit(job_ids: list[int]) -> None:
    if job_ids:
        # Robust: a failed enqueue must not undo the jobs; their lease brings them back.
        transaction.on_commit(partial(_enqueue, job_ids), robust=True)


def _enqueue(job_ids: Iterable[int]) -> None:
    from ai_overlays.tasks import run_ai_job  # the task module imports this one

    for job_id in job_ids:
        run_ai_job.enqueue(job_id)
