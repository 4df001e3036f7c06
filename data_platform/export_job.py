"""The export job: every study of the cohort read from the archive, de-identified, checked for
series a training pipeline cannot use, written with its labels and SEG masks; a checkpoint per
study makes it resumable after a kill, and the package appears only once complete (a zip built
under a temporary name and renamed), so a killed export leaves a complete package or none."""

import json
import logging
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from data_platform import keys as identity_keys
from data_platform import nifti, package
from data_platform.cohorts import CohortDefinition, studies_for
from data_platform.labels import study_labels
from data_platform.masks import series_segmentation
from data_platform.models import Export, ExportStatus
from data_platform.mpi import person_for_patient
from dicomkit.deidentify import (
    Excluded,
    Keys,
    Options,
    deidentify,
    pseudonym_for,
    remap_uid,
    series_problems,
    write_deidentified,
)
from worklist.archive_files import path_of
from worklist.models import Instance, Study

logger = logging.getLogger(__name__)

PROFILE = [
    "113100 Basic Application Confidentiality Profile",
    "113107 Retain Longitudinal Temporal Information with Modified Dates",
    "113108 Retain Patient Characteristics Option",
    "113105 Clean Descriptors Option",
    "113111 Retain Safe Private Option",
]


@task()
def run_export(export_id: int) -> str:
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    if export.status == ExportStatus.DONE and package.package_path(export.pk).exists():
        return export.status
    try:
        build_package(export)
    except Exception as exc:
        Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error=type(exc).__name__[:300])
        logger.exception("export %s failed", export.pk)
        raise
    return ExportStatus.DONE


def build_package(export: Export) -> None:
    definition = CohortDefinition.from_json(export.definition)
    studies = list(studies_for(definition).select_related("patient__site", "site"))
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.RUNNING, total=len(studies), error="")
    keys = identity_keys.keys_for_export(export)
    work = package.work_folder(export.pk)
    content, checkpoints = work / "content", work / "checkpoints"
    content.mkdir(parents=True, exist_ok=True)
    checkpoints.mkdir(exist_ok=True)
    summaries = []
    for study in studies:
        checkpoint = checkpoints / f"{study.pk}.json"
        if not checkpoint.exists():
            summary = export_study(study, export=export, keys=keys, definition=definition, content=content)
            package.write_json(checkpoint, summary)
            Export.objects.filter(pk=export.pk).update(done=F("done") + 1)
        summaries.append(json.loads(checkpoint.read_text(encoding="utf-8")))
    Export.objects.filter(pk=export.pk).update(done=len(studies))
    _finish(export, content=content, summaries=summaries)
    final = package.package_path(export.pk)
    package.build_zip(content, final)
    shutil.rmtree(work)
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.DONE,
        package_name=final.name,
        package_sha256=package.sha256_of(final),
        finished_at=timezone.now(),
    )


def export_study(study: Study, *, export: Export, keys: Keys, definition: CohortDefinition, content: Path) -> dict:
    """Write one study into its own temporary folder, then rename it into the package content."""
    person = person_for_patient(study.patient)
    mapping = identity_keys.mapping_for(person, keys=keys, export=export)
    study_uid = remap_uid(study.study_instance_uid, keys)
    temporary = content.parent / f"tmp-{study_uid}"
    shutil.rmtree(temporary, ignore_errors=True)
    options = Options()
    site_pseudonym = pseudonym_for(f"site:{study.site.code}", keys)
    exclusions, exported, volumes = [], {}, []
    instances = Instance.objects.filter(series__study=study).select_related("series").order_by("sop_instance_uid")
    by_series: dict[str, list[Instance]] = defaultdict(list)
    for instance in instances:
        by_series[instance.series.series_instance_uid].append(instance)
    for series_uid in sorted(by_series):
        rows = by_series[series_uid]
        datasets = [pydicom.dcmread(path_of(row.file_key)) for row in rows]
        problems = set(series_problems(datasets))
        if any(row.pixel_problem for row in rows):
            problems.add("flagged_at_ingest")
        new_series = remap_uid(series_uid, keys)
        if problems:
            exclusions.append({"study": study_uid, "series": new_series, "reasons": sorted(problems)})
            continue
        kept = []
        for row, dataset in zip(rows, datasets, strict=True):
            try:
                clean = deidentify(dataset, keys=keys, patient=mapping, options=options, site_pseudonym=site_pseudonym)
            except Excluded as exc:
                exclusions.append(
                    {
                        "study": study_uid,
                        "series": new_series,
                        "instance": remap_uid(row.sop_instance_uid, keys),
                        "reasons": [exc.code],
                    }
                )
                continue
            target = temporary / "images" / new_series / f"{clean.SOPInstanceUID}.dcm"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_deidentified(clean, target)
            exported[str(clean.SOPInstanceUID)] = clean
            kept.append(clean)
        if export.options.get("nifti") and len(kept) == len(rows) and nifti.wants_volume(kept):
            target = temporary / "nifti" / f"{new_series}.nii.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(nifti.volume_bytes(nifti.series_volume(kept)))
            volumes.append(f"studies/{study_uid}/nifti/{target.name}")
    labels = study_labels(study, definition=definition, remap=lambda uid: remap_uid(uid, keys))
    temporary.mkdir(parents=True, exist_ok=True)
    package.write_json(temporary / "labels.json", labels)
    _write_masks(labels, exported, keys=keys, into=temporary / "seg")
    package.publish_folder(temporary, content / "studies" / study_uid)
    return {
        "study": study_uid,
        "patient": mapping.pseudonym,
        "series": sorted({str(dataset.SeriesInstanceUID) for dataset in exported.values()}),
        "instances": len(exported),
        "labels": _label_counts(labels),
        "exclusions": exclusions,
        "nifti": volumes,
    }


def _write_masks(labels: list[dict], exported: dict, *, keys: Keys, into: Path) -> None:
    by_series: dict[str, list[dict]] = defaultdict(list)
    for label in labels:
        by_series[label["series_instance_uid"]].append(label)
    for series_uid in sorted(uid for uid in by_series if uid):
        images = {uid: ds for uid, ds in exported.items() if str(ds.SeriesInstanceUID) == series_uid}
        seg = series_segmentation(
            labels=by_series[series_uid],
            images=images,
            seg_series_uid=remap_uid(f"{series_uid}.seg", keys),
            seg_sop_uid=remap_uid(f"{series_uid}.seg.1", keys),
        )
        if seg is not None:
            into.mkdir(parents=True, exist_ok=True)
            seg.save_as(into / f"{seg.SOPInstanceUID}.dcm", enforce_file_format=True)


def _label_counts(labels: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for label in labels:
        counts[label["verdict"]] += 1
    return dict(counts)


def _finish(export: Export, *, content: Path, summaries: list[dict]) -> None:
    """The manifest and the dataset card, written from the study checkpoints (so a resumed export
    writes the same ones) and independent of when or by whom the export ran."""
    exclusions = [exclusion for summary in summaries for exclusion in summary["exclusions"]]
    labels: dict[str, int] = defaultdict(int)
    for summary in summaries:
        for verdict, count in summary["labels"].items():
            labels[f"labels_{verdict}"] += count
    counts = {
        "patients": len({summary["patient"] for summary in summaries}),
        "studies": len(summaries),
        "series": sum(len(summary["series"]) for summary in summaries),
        "instances": sum(summary["instances"] for summary in summaries),
        **labels,
    }
    card = package.dataset_card(
        definition=export.definition, counts=counts, options=export.options, exclusions=exclusions, profile=PROFILE
    )
    (content / "dataset_card.md").write_text(card, encoding="utf-8")
    files = {
        path.relative_to(content).as_posix(): package.sha256_of(path)
        for path in sorted(content.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }
    package.write_json(
        content / "manifest.json",
        {
            "counts": counts,
            "exclusions": exclusions,
            "files": files,
            "nifti": sorted(path for summary in summaries for path in summary.get("nifti", [])),
            "profile": PROFILE,
            "definition": export.definition,
        },
    )
