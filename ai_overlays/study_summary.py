"""What the worklist shows of a study's AI: one entry per model with a result or a job for the
study, and the study's AI status. The worklist learns it only through record_ai_summary."""

import logging

from django.db import transaction

from ai_overlays.models import AIJob, AIModel, AIResult, JobStatus
from worklist.models import AiStatus, ClinicalArea, Study
from worklist.workflow import WorkflowError, record_ai_summary

logger = logging.getLogger(__name__)

WAITING = (JobStatus.PENDING, JobStatus.SENT)


def study_ai_summary(study: Study) -> tuple[str, list[dict]]:
    """(ai_status, summary). With no result and no job the status is left as it is (dispatch
    decides "no AI" and "not sent")."""
    latest: dict[int, AIResult] = {}
    for result in AIResult.objects.filter(study=study).select_related("ai_model").order_by("received_at", "id"):
        latest[result.ai_model_id] = result
    job_states: dict[int, set[str]] = {}
    failure_reasons: dict[int, str] = {}
    models: dict[int, AIModel] = {result.ai_model_id: result.ai_model for result in latest.values()}
    jobs = AIJob.objects.filter(study=study).prefetch_related("engine__ai_models")
    for job in jobs:
        for model in _models_for(job, study):
            models.setdefault(model.pk, model)
            job_states.setdefault(model.pk, set()).add(job.status)
            if job.status == JobStatus.FAILED:
                failure_reasons[model.pk] = job.reason
    summary = []
    for model in sorted(models.values(), key=lambda model: (model.vendor, model.product, model.version)):
        state = _model_state(latest.get(model.pk), job_states.get(model.pk, set()))
        if state is None:
            continue
        result = latest.get(model.pk)
        entry = {
            "model": model.product,
            "vendor": model.vendor,
            "version": model.version,
            "score": round(result.case_score) if result and result.case_score is not None else None,
            "urgent": bool(result and result.triage_flag),
            "state": state,
            "reference": model.is_reference,
        }
        if state == "failed":
            entry["reason"] = failure_reasons.get(model.pk, "")
        summary.append(entry)
    return _study_status(study, latest, [job.status for job in jobs]), summary


def refresh_study_ai(study: Study) -> None:
    """Recompute and record the summary; run after the commit that changed results or jobs."""
    ai_status, summary = study_ai_summary(study)
    try:
        with transaction.atomic():
            record_ai_summary(study=study, ai_status=ai_status, summary=summary)
    except WorkflowError as error:
        # The result is stored either way; the worklist row catches up on the next refresh.
        logger.warning("AI summary of study %s not recorded: %s", study.pk, error.code)


def _models_for(job: AIJob, study: Study) -> list[AIModel]:
    """The engine's active models that read one of the study's modalities, of its clinical area
    when that is known (an engine with a lung and a stroke CT model runs one of them on a chest CT)."""
    modalities = set(filter(None, study.modalities.replace("\\", ",").split(","))) | {study.modality}
    return [
        model
        for model in job.engine.ai_models.all()
        if model.is_active
        and modalities & set(model.modality_list())
        and study.clinical_area in (ClinicalArea.OTHER, model.clinical_area)
    ]


def _model_state(result: AIResult | None, job_states: set[str]) -> str | None:
    if result is not None:
        return "ready"
    if job_states & set(WAITING):
        return "pending"
    if JobStatus.DONE in job_states:
        return "ready"  # the model ran and reported nothing
    if JobStatus.FAILED in job_states:
        return "failed"
    return None


def _study_status(study: Study, latest: dict, job_states: list[str]) -> str:
    if latest or JobStatus.DONE in job_states:
        return AiStatus.READY
    if any(state in WAITING for state in job_states):
        return AiStatus.PENDING
    if job_states and all(state == JobStatus.FAILED for state in job_states):
        return AiStatus.FAILED
    return study.ai_status
