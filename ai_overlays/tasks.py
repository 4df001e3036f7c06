"""The background job that runs one AIJob: the built-in reference engine in this process, or a
notice POSTed to a vendor engine. Every failure is counted on the job (ai_overlays.dispatch)
and retried later; nothing escapes to the task backend."""

import logging
import traceback

from django.tasks import task

from ai_overlays import dispatch
from ai_overlays.engine_client import EngineUnreachable, notify_engine, study_notice
from ai_overlays.models import AIJob, EngineKind, JobStatus
from worklist.models import Study

logger = logging.getLogger(__name__)


@task()
def run_ai_job(job_id: int) -> str:
    """Run the job if it is still pending; return its status afterwards."""
    job = AIJob.objects.select_related("engine", "study__site").filter(pk=job_id).first()
    if job is None:
        return "gone"  # the study was deleted meanwhile
    if job.status != JobStatus.PENDING:
        return job.status  # a lost task's twin, or a result that came first
    if not job.engine.is_active:
        dispatch.record_failure(job_id, "the engine is not active")
    elif job.engine.kind == EngineKind.REFERENCE:
        _run_reference_engine(job)
    else:
        _notify_vendor_engine(job)
    return AIJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "gone"


def _notify_vendor_engine(job: AIJob) -> None:
    try:
        notify_engine(job.engine.endpoint_url, study_notice(job))
    except EngineUnreachable as exc:
        dispatch.record_failure(job.pk, exc.reason)
        return
    dispatch.mark_sent(job.pk)


def _run_reference_engine(job: AIJob) -> None:
    from ai_overlays.intake import store_result  # imports PIL; loaded only where results are stored

    try:
        for payload in run_reference_engine(job.study):
            store_result(payload=payload, engine=job.engine, source="api")
    except Exception as exc:
        # Type and place only: a message may quote a header value (a patient's name).
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        logger.error(
            "AI job %s: reference engine raised %s at %s:%s", job.pk, type(exc).__name__, frame.filename, frame.lineno
        )
        field = getattr(exc, "field", "")
        reason = f"invalid result ({field})" if field else f"reference engine error ({type(exc).__name__})"
        dispatch.record_failure(job.pk, reason)
        return
    # store_result marks the job done with a new result; a rerun whose results exist already, or
    # a study with nothing to report, is done as well.
    dispatch.mark_done(job.pk)


def run_reference_engine(study: Study) -> list[dict]:
    """The built-in engine's result payloads for the study (tests replace this function)."""
    from ai_overlays.reference_engine import analyse_study  # numpy and the detectors, loaded when used

    return analyse_study(study)
