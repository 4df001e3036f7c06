"""The export package, built from real ingested studies with real AI results and verdicts:
checksums verify, labels carry model, version and role, rejected findings are negatives, SEG
references resolve to exported images, a re-export is byte-for-byte the same, and a killed export
leaves no package while a rerun completes it."""

import hashlib
import io
import json
import zipfile

import pydicom
import pytest

from ai_overlays.intake import store_result
from ai_overlays.models import AIModel, Finding
from data_platform import export_job, package, purposes
from data_platform.models import Export, ExportStatus
from reading.models import FindingDecision, ReaderFinding
from tests.data_platform.demo_studies import ingest_demo_chest_xrays
from worklist.models import Instance


@pytest.fixture
def read_studies(sites, suwon_radiologist):
    studies = ingest_demo_chest_xrays(sites)
    model = AIModel.objects.create(
        vendor="Acme", product="LungNet", version="2.1", clinical_area="lung", modalities="CR,DX"
    )
    study = studies[0]
    instance = Instance.objects.filter(series__study=study).select_related("series").first()
    where = {"series_instance_uid": instance.series.series_instance_uid, "sop_instance_uid": instance.sop_instance_uid}
    store_result(
        payload={
            "result_id": "r1",
            "model": {"vendor": "Acme", "product": "LungNet", "version": "2.1"},
            "study_instance_uid": study.study_instance_uid,
            "findings": [
                {"type": "nodule", "label": "Nodule", "score": 90.0, "box": [10, 10, 30, 30], **where},
                {"type": "nodule", "label": "Shadow", "score": 55.0, "point": [40, 40], **where},
            ],
        },
        engine=None,
    )
    accepted, rejected = Finding.objects.filter(result__ai_model=model).order_by("pk")
    FindingDecision.objects.create(
        study=study, finding=accepted, revision=1, verdict="accepted", decided_by=suwon_radiologist
    )
    FindingDecision.objects.create(
        study=study, finding=rejected, revision=1, verdict="rejected", decided_by=suwon_radiologist
    )
    ReaderFinding.objects.create(
        study=study,
        finding_type="nodule",
        geometry_kind="polygon",
        geometry={"polygon": [[50, 50], [70, 50], [60, 70]]},
        created_by=suwon_radiologist,
        **where,
    )
    return studies


def export_once(steward, cohort, purpose) -> Export:
    export = purposes.request_export(cohort=cohort, purpose=purpose, reason="train a nodule detector", user=steward)
    export.refresh_from_db()
    return export


def read_package(export: Export) -> dict[str, bytes]:
    with zipfile.ZipFile(package.package_path(export.pk)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.django_db(transaction=True)
def test_the_package_verifies_and_carries_labels_negatives_and_resolving_masks(
    read_studies, steward, cohort_of_everything, approved_purpose
):
    export = export_once(steward, cohort_of_everything, approved_purpose)

    assert export.status == ExportStatus.DONE and export.done == export.total == len(read_studies)
    files = read_package(export)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    labels = [label for name, data in files.items() if name.endswith("labels.json") for label in json.loads(data)]
    by_verdict = {label["verdict"]: label for label in labels}
    assert by_verdict["accepted"]["model"] == {"vendor": "Acme", "product": "LungNet", "version": "2.1"}
    assert by_verdict["accepted"]["reader_role"] == "radiologist"
    assert by_verdict["rejected"]["kind"] == "negative"
    assert by_verdict["added"]["model"] is None
    assert "kim.suwon" not in json.dumps(labels)
    images = {pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID for name, data in files.items() if "/images/" in name}
    segs = [pydicom.dcmread(io.BytesIO(data)) for name, data in files.items() if "/seg/" in name]
    assert len(segs) == 1
    referenced = {
        item.ReferencedSOPInstanceUID
        for series in segs[0].ReferencedSeriesSequence
        for item in series.ReferencedInstanceSequence
    }
    assert referenced and referenced <= images
    assert "Exclusions by reason" in files["dataset_card.md"].decode()


@pytest.mark.django_db(transaction=True)
def test_a_re_export_of_the_same_cohort_is_byte_for_byte_identical(
    read_studies, steward, cohort_of_everything, approved_purpose
):
    first = export_once(steward, cohort_of_everything, approved_purpose)
    second = export_once(steward, cohort_of_everything, approved_purpose)
    one, two = read_package(first), read_package(second)
    assert [name for name in one if one[name] != two.get(name)] == []
    assert package.package_path(first.pk).read_bytes() == package.package_path(second.pk).read_bytes()


@pytest.mark.django_db(transaction=True)
def test_a_killed_export_leaves_no_package_and_a_rerun_completes_it(
    read_studies, steward, cohort_of_everything, approved_purpose, monkeypatch
):
    real_export_study = export_job.export_study
    calls = []

    def dies_on_the_second_study(study, **kwargs):
        calls.append(study.pk)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real_export_study(study, **kwargs)

    monkeypatch.setattr(export_job, "export_study", dies_on_the_second_study)
    export = export_once(steward, cohort_of_everything, approved_purpose)
    assert export.status == ExportStatus.FAILED and export.done == 1
    assert not package.package_path(export.pk).exists()

    monkeypatch.setattr(export_job, "export_study", real_export_study)
    export_job.run_export.call(export.pk)

    export.refresh_from_db()
    assert export.status == ExportStatus.DONE and export.done == export.total
    assert package.package_path(export.pk).exists()
    assert not package.work_folder(export.pk).exists()
