"""Importing a stored DICOM SEG, Parametric Map or SR as an AI result, in the background.

The archive announces every stored instance (worklist.signals.instance_stored); the receiver
only filters by SOP Class and enqueues, so a C-STORE acknowledgement waits for nothing. An object
that cannot be attached stays stored (it was valid DICOM); the refusal is logged without PHI and
kept as an INSTANCE_REFUSED audit event whose detail holds the code and the reason."""

import logging

import pydicom
from django.tasks import task

from accounts import audit
from accounts.models import AuditAction
from ai_overlays import dicom_results
from ai_overlays.dicom_results import Conversion, DicomResultRefused, SourceImage
from ai_overlays.intake import ResultConflict, ResultForbidden, ResultInvalid, store_result
from ai_overlays.models import AIModel
from worklist import archive_files
from worklist.models import Instance, Series, Study

logger = logging.getLogger(__name__)


def on_instance_stored(sender, *, instance_id: int, sop_class_uid: str, study_id: int, **kwargs) -> None:
    if sop_class_uid in dicom_results.RESULT_SOURCES:
        import_dicom_result.enqueue(instance_id)


@task()
def import_dicom_result(instance_id: int) -> str:
    """Attach the AI output of one stored instance to its study; return "stored", "repeat",
    "reading_report" (our own signed report), the refusal code, or "" when the instance is gone."""
    instance = Instance.objects.select_related("series__study__patient").filter(pk=instance_id).first()
    if instance is None:
        return ""  # deleted before the task ran
    path = archive_files.path_of(instance.file_key)
    if not path.exists():
        return ""
    study = instance.series.study
    source = dicom_results.RESULT_SOURCES.get(instance.sop_class_uid, "dicom")
    try:
        dataset = pydicom.dcmread(path)
        if dicom_results.is_reading_report(dataset):
            return "reading_report"  # our own signed report, not an AI's output
        conversion = dicom_results.convert(
            dataset,
            study_instance_uid=study.study_instance_uid,
            patient_id=study.patient.patient_id,
            images=_study_images(study),
        )
        _register_model(conversion, study)
        outcome = store_result(payload=conversion.payload, engine=None, source=conversion.source)
    except DicomResultRefused as refusal:
        return _refuse(instance, study, source=source, code=refusal.code, reason=refusal.reason)
    except ResultInvalid as invalid:
        return _refuse(instance, study, source=source, code="invalid", reason=f"{invalid.field}: {invalid.message}")
    except ResultConflict:
        reason = "this model already delivered another result with this SOP Instance UID"
        return _refuse(instance, study, source=source, code="conflict", reason=reason)
    except ResultForbidden as forbidden:
        return _refuse(instance, study, source=source, code="forbidden", reason=forbidden.reason)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        return _refuse(instance, study, source=source, code="unreadable", reason=type(error).__name__)
    return "stored" if outcome.created else "repeat"


def _study_images(study: Study) -> dict[str, SourceImage]:
    rows = (
        Instance.objects.filter(series__study=study, rows__isnull=False, columns__isnull=False)
        .exclude(sop_class_uid__in=list(dicom_results.RESULT_SOURCES))
        .values_list("sop_instance_uid", "series__series_instance_uid", "rows", "columns", "number_of_frames")
    )
    return {
        sop_uid: SourceImage(series_uid, rows, columns, frames or 1)
        for sop_uid, series_uid, rows, columns, frames in rows
    }


def _register_model(conversion: Conversion, study: Study) -> AIModel:
    """The model named in the object, registered on first sight. Active (store_result refuses an
    inactive one); no engine dispatches to it, so being active sends no study anywhere."""
    modalities = sorted(
        set(
            Series.objects.filter(series_instance_uid__in=conversion.series_instance_uids)
            .exclude(modality="")
            .values_list("modality", flat=True)
        )
    )
    model, created = AIModel.objects.get_or_create(
        vendor=conversion.model.vendor,
        product=conversion.model.product,
        version=conversion.model.version,
        defaults={
            "clinical_area": study.clinical_area,
            "modalities": " ".join(modalities)[:64] or study.modality or "OT",
        },
    )
    if created:
        logger.info("AI model %s registered from a DICOM %s", model.pk, conversion.source)
    return model


def _refuse(instance: Instance, study: Study, *, source: str, code: str, reason: str) -> str:
    # UIDs and row ids only: no patient name or ID reaches the log.
    logger.warning("DICOM AI object %s (instance %s) not attached: %s", source, instance.pk, code)
    audit.record(
        action=AuditAction.INSTANCE_REFUSED,
        source=source,
        study_uid=study.study_instance_uid,
        patient_ref=study.patient_id,
        success=False,
        detail={
            "kind": "ai_result",
            "instance_id": instance.pk,
            "sop_instance_uid": instance.sop_instance_uid,
            "code": code,
            "reason": reason[:500],
        },
    )
    return code
