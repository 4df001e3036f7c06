"""Storing an AI result: the one entry point of every producer (REST API, DICOM SEG/SR importer,
reference engine). Validate, then insert result, findings and heatmaps in one transaction.

Idempotent on (model, result_id) through the unique constraint, never check-then-insert: the
loser of two identical deliveries gets the winner's row back (created=False), a different body
under a used id is a ResultConflict (HTTP 422). An unknown study raises StudyNotFound, a
ResultInvalid on "study_instance_uid" that the API answers with 404."""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction

from ai_overlays.heatmap_png import encode_greyscale_png
from ai_overlays.models import AIEngine, AIJob, AIResult, Finding, Heatmap, JobStatus
from ai_overlays.result_validation import (
    CheckedResult,
    ResultForbidden,
    ResultInvalid,
    StudyNotFound,
    body_sha256,
    check_body,
    check_header,
)
from ai_overlays.study_summary import refresh_study_ai

__all__ = ["ResultConflict", "ResultForbidden", "ResultInvalid", "StoreOutcome", "StudyNotFound", "store_result"]

logger = logging.getLogger(__name__)

# zlib releases the GIL, so threads encode a 300-slice volume of heatmaps on every core.
ENCODE_THREADS = 4


class ResultConflict(Exception):
    """This model already delivered this result_id with another body (HTTP 422)."""

    def __init__(self, result: AIResult):
        super().__init__(f"result {result.result_id!r} already stored with another body")
        self.result = result


@dataclass
class StoreOutcome:
    result: AIResult
    created: bool


def store_result(*, payload: dict, engine: AIEngine | None, source: str = "api") -> StoreOutcome:
    ai_model, study, result_id = check_header(payload, engine=engine)
    # A repeat is answered from its hash, without decoding its heatmaps again; the insert below
    # stays the arbiter when two deliveries race.
    existing = AIResult.objects.filter(ai_model=ai_model, result_id=result_id).first()
    if existing is not None:
        return _repeat(existing, body_sha256(payload))
    checked = check_body(payload, ai_model=ai_model, study=study, result_id=result_id)
    heatmap_png = _encode_heatmaps(checked.heatmaps)
    try:
        with transaction.atomic():
            result = _insert(checked, engine=engine, source=source, heatmap_png=heatmap_png)
    except IntegrityError:
        existing = AIResult.objects.filter(ai_model=ai_model, result_id=result_id).first()
        if existing is None:
            raise
        return _repeat(existing, checked.body_sha256)
    logger.info(
        "AI result %s stored: model %s, study %s, %d findings, %d heatmaps",
        result.pk,
        ai_model.pk,
        study.study_instance_uid,
        len(checked.findings),
        len(heatmap_png),
    )
    return StoreOutcome(result=result, created=True)


def _repeat(existing: AIResult, digest: str) -> StoreOutcome:
    if existing.body_sha256 != digest:
        raise ResultConflict(existing)
    return StoreOutcome(result=existing, created=False)


def _insert(checked: CheckedResult, *, engine: AIEngine | None, source: str, heatmap_png: list[bytes]) -> AIResult:
    result = AIResult.objects.create(
        study=checked.study,
        ai_model=checked.ai_model,
        engine=engine,
        result_id=checked.result_id,
        body_sha256=checked.body_sha256,
        source=source,
        case_score=checked.case_score,
        triage_flag=checked.triage_flag,
        summary=checked.summary,
    )
    Finding.objects.bulk_create([Finding(result=result, **row) for row in checked.findings], batch_size=1000)
    Heatmap.objects.bulk_create(
        [
            Heatmap(
                result=result,
                series_instance_uid=row["series_instance_uid"],
                sop_instance_uid=row["sop_instance_uid"],
                frame=row["frame"],
                rows=row["rows"],
                columns=row["columns"],
                png=png,
            )
            for row, png in zip(checked.heatmaps, heatmap_png, strict=True)
        ],
        batch_size=50,
    )
    if engine is not None:
        AIJob.objects.filter(study=checked.study, engine=engine).update(status=JobStatus.DONE, reason="")
    transaction.on_commit(partial(refresh_study_ai, checked.study))
    return result


def _encode_heatmaps(heatmaps: list[dict]) -> list[bytes]:
    if not any("raw" in row for row in heatmaps):
        return [row["png"] for row in heatmaps]
    with ThreadPoolExecutor(max_workers=ENCODE_THREADS) as pool:
        return list(pool.map(_png_of, heatmaps))


def _png_of(row: dict) -> bytes:
    if "png" in row:
        return row["png"]
    return encode_greyscale_png(row["raw"], rows=row["rows"], columns=row["columns"])
