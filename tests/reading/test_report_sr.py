"""The signed report as a DICOM SR (TID 1500): what it holds, read back with highdicom, checked with
dciodvfy, and delivered to a real Orthanc over STOW-RS and C-STORE."""

import io
import json
import subprocess
import urllib.request

import highdicom as hd
import pydicom
import pytest
from django.utils import timezone
from pydicom.filewriter import dcmwrite

from accounts.models import AuditAction, AuditEvent
from ai_overlays.models import AIResult, Finding
from dicomkit.synthetic import chest_ct
from reading import report_delivery
from reading.models import FindingDecision, PacsDelivery, ReaderFinding, Report, ReportStatus
from reading.report_delivery import deliver_report
from reading.report_sr import (
    ASSESSMENT,
    REJECTION_REASON,
    Algorithm,
    ReportedFinding,
    ReportNotBuildable,
    build_report_sr,
)
from tests.ai_overlays.factories import make_model
from tests.conftest import free_port, make_user, require_tool
from worklist.archive_files import path_of
from worklist.ingest import ingest
from worklist.models import Instance, Study

ACME = Algorithm(vendor="Acme", product="LungNet", version="2.1")
IMPRESSION = "우하엽 결절 8 mm, Lung-RADS 4A. Follow-up CT in 3 months."


@pytest.fixture(scope="module")
def ct():
    return chest_ct(slices=6, size=64, seed=7, nodule_count=1)


def example_findings(images) -> list[ReportedFinding]:
    """The four kinds of finding a report holds: accepted box, modified outline, rejected point, reader's point."""
    return [
        ReportedFinding(
            "ai-1", "lung_nodule", "Solid nodule 8 mm", "box", {"box": [10, 12, 20.5, 22]},
            images[2].SOPInstanceUID, 1, ACME, "accepted",
        ),
        ReportedFinding(
            "ai-2", "lung_nodule", "Part-solid nodule", "polygon", {"polygon": [[30, 30], [40, 31], [36, 40]]},
            images[3].SOPInstanceUID, 1, ACME, "modified",
        ),
        ReportedFinding(
            "ai-3", "lung_nodule", "Nodule", "point", {"point": [5, 5]},
            images[4].SOPInstanceUID, 1, ACME, "rejected", "artefact",
        ),
        ReportedFinding("reader-1", "consolidation", "Consolidation", "point", {"point": [50, 44.5]},
                        images[1].SOPInstanceUID, 1),
    ]  # fmt: skip


def written(sr, path) -> hd.sr.ComprehensiveSR:
    sr.save_as(path, enforce_file_format=True)
    return hd.sr.srread(path)


@pytest.fixture
def sr_file(ct, tmp_path):
    sr = build_report_sr(
        images=ct.datasets,
        findings=example_findings(ct.datasets),
        reader_name="Kim^Minjun",
        impression=IMPRESSION,
        series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(),
        institution_name="Anseong Seongmo Hospital",
    )
    path = tmp_path / "report.dcm"
    written(sr, path)
    return path


def planar_groups(content) -> dict:
    """The planar ROI groups by tracking id ("ai-12", "reader-3")."""
    return {group.tracking_identifier.split(":")[0]: group for group in content.get_planar_roi_measurement_groups()}


def evaluations(group) -> dict[str, str]:
    return {item.name.meaning: item.value.meaning for item in group.get_qualitative_evaluations()}


def test_each_confirmed_finding_is_a_planar_roi_on_its_source_image(ct, sr_file):
    groups = planar_groups(hd.sr.srread(sr_file).content)

    assert sorted(groups) == ["ai-1", "ai-2", "reader-1"]
    box = groups["ai-1"].roi
    assert box.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
    assert box.value.tolist() == [[10, 12], [20.5, 12], [20.5, 22], [10, 22], [10, 12]]
    assert box.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == ct.datasets[2].SOPInstanceUID
    outline = groups["ai-2"].roi.value.tolist()
    assert outline[0] == outline[-1] == [30, 30] and len(outline) == 4
    point = groups["reader-1"].roi
    assert point.graphic_type == hd.sr.GraphicTypeValues.POINT
    assert point.value.tolist() == [[50, 44.5]]
    assert groups["ai-1"].finding_type == hd.sr.CodedConcept("27925004", "SCT", "Nodule")
    assert groups["reader-1"].finding_type.scheme_designator == "99RWS"


def test_ai_findings_carry_their_algorithm_and_the_readers_verdict_and_added_ones_neither(sr_file):
    groups = planar_groups(hd.sr.srread(sr_file).content)

    assert algorithm(groups["ai-1"]) == ("Acme LungNet", "2.1")
    assert evaluations(groups["ai-1"]) == {ASSESSMENT.meaning: "Accepted by reader"}
    assert evaluations(groups["ai-2"]) == {ASSESSMENT.meaning: "Modified by reader"}
    assert groups["ai-2"].tracking_identifier == "ai-2: Part-solid nodule"
    assert algorithm(groups["reader-1"]) == (None, None)
    assert evaluations(groups["reader-1"]) == {}


def test_a_rejected_finding_keeps_its_assessment_and_reason_but_no_region(sr_file):
    report = hd.sr.srread(sr_file)
    [rejected] = report.content.get_image_measurement_groups()

    assert rejected.tracking_identifier.startswith("ai-3:")
    assert evaluations(rejected) == {
        ASSESSMENT.meaning: "Rejected by reader",
        REJECTION_REASON.meaning: "False positive: artefact",
    }
    assert algorithm(rejected) == ("Acme LungNet", "2.1")
    assert not rejected.source_images
    region_items = [item for item in _walk(rejected[0]) if item.ValueType == "SCOORD"]
    assert region_items == []


def test_the_sr_belongs_to_the_source_patient_and_study_in_a_new_series_with_the_impression(ct, sr_file):
    source = ct.datasets[0]
    sr = pydicom.dcmread(sr_file)

    assert (sr.PatientName, sr.PatientID, sr.PatientBirthDate) == (
        source.PatientName, source.PatientID, source.PatientBirthDate,
    )  # fmt: skip
    assert (sr.StudyInstanceUID, sr.AccessionNumber) == (source.StudyInstanceUID, source.AccessionNumber)
    assert sr.SeriesInstanceUID != source.SeriesInstanceUID and sr.Modality == "SR"
    assert sr.SOPClassUID == pydicom.uid.ComprehensiveSRStorage
    assert (sr.CompletionFlag, sr.VerificationFlag, str(sr.VerifyingObserverSequence[0].VerifyingObserverName)) == (
        "COMPLETE", "VERIFIED", "Kim^Minjun",
    )  # fmt: skip
    texts = [item.TextValue for item in _walk(sr) if item.get("ValueType") == "TEXT"]
    assert IMPRESSION in texts
    evidence = {item.ReferencedSOPInstanceUID for series in sr.CurrentRequestedProcedureEvidenceSequence
                for item in series.ReferencedSeriesSequence[0].ReferencedSOPSequence}  # fmt: skip
    # Only the images the ROIs stand on: the rejected finding's image is not evidence.
    assert evidence == {ct.datasets[index].SOPInstanceUID for index in (1, 2, 3)}


def test_dciodvfy_finds_no_errors_in_the_sr(sr_file):
    dciodvfy = require_tool("dciodvfy")
    checked = subprocess.run([dciodvfy, str(sr_file)], capture_output=True, text=True, timeout=60)
    lines = (checked.stdout + checked.stderr).splitlines()

    assert [line for line in lines if line.startswith("Error")] == []


def algorithm(group) -> tuple[str | None, str | None]:
    """TID 4019's name and version in a measurement group."""
    values = {item.ConceptNameCodeSequence[0].CodeValue: item.TextValue for item in _walk(group[0])
              if item.get("ValueType") == "TEXT"}  # fmt: skip
    return values.get("111001"), values.get("111003")


def _walk(item):
    for child in item.get("ContentSequence", []):
        yield child
        yield from _walk(child)


# Delivery from the database


@pytest.fixture
def signed_report(sites, ct, settings):
    """The CT in our archive with an AI result of four findings decided as in the example, one
    finding added by the reader, and a signed report."""
    settings.PACS_DICOMWEB_URL = ""
    reader = make_user("kim.suwon", sites=[sites["SUWON"]])
    reader.last_name, reader.first_name = "Kim", "Minjun"
    reader.save()
    for dataset in ct.datasets:
        buffer = io.BytesIO()
        dcmwrite(buffer, dataset, enforce_file_format=True)
        assert ingest(buffer.getvalue(), site=sites["SUWON"], source="test").ok
    study = Study.objects.get(study_instance_uid=ct.study_instance_uid)
    result = AIResult.objects.create(study=study, ai_model=make_model(), result_id="r-1", body_sha256="0" * 64)
    series_uid, uids = ct.datasets[0].SeriesInstanceUID, [dataset.SOPInstanceUID for dataset in ct.datasets]

    def finding(kind, shape, sop_uid, verdict, **decided):
        row = Finding.objects.create(
            result=result, finding_type="lung_nodule", label="Nodule", geometry_kind=kind, geometry=shape,
            series_instance_uid=series_uid, sop_instance_uid=sop_uid,
        )  # fmt: skip
        FindingDecision.objects.create(
            study=study, finding=row, revision=1, verdict=verdict, decided_by=reader, **decided
        )
        return row

    finding("box", {"box": [10, 12, 20, 22]}, uids[2], "accepted")
    finding(
        "box", {"box": [30, 30, 40, 40]}, uids[3], "modified",
        geometry_kind="polygon", geometry={"polygon": [[30, 30], [40, 31], [36, 40]]}, label="Part-solid nodule",
    )  # fmt: skip
    finding("point", {"point": [5, 5]}, uids[4], "rejected", reason="artefact")
    finding("box3d", {"min": [8, 8, 1], "max": [16, 16, 3]}, "", "accepted")
    ReaderFinding.objects.create(
        study=study, finding_type="consolidation", label="Consolidation", geometry_kind="point",
        geometry={"point": [50, 44]}, series_instance_uid=series_uid, sop_instance_uid=uids[1], created_by=reader,
    )  # fmt: skip
    return Report.objects.create(
        study=study, clinical_area="lung", impression=IMPRESSION, status=ReportStatus.SIGNED,
        signed_by=reader, signed_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def no_pause(monkeypatch):
    monkeypatch.setattr(report_delivery, "RETRY_DELAYS", (0.0, 0.0))


def stored_sr(report: Report) -> hd.sr.ComprehensiveSR:
    instance = Instance.objects.get(sop_instance_uid=report.sr_sop_instance_uid)
    return hd.sr.srread(path_of(instance.file_key))


@pytest.mark.django_db
def test_without_a_pacs_the_sr_still_joins_the_study_and_the_report_says_no_pacs(signed_report):
    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.pacs_delivery == PacsDelivery.NO_PACS
    instance = Instance.objects.select_related("series__study").get(sop_instance_uid=signed_report.sr_sop_instance_uid)
    assert (instance.series.study, instance.source, instance.series.modality) == (signed_report.study, "report", "SR")
    audit = AuditEvent.objects.get(action=AuditAction.REPORT_SENT)
    assert audit.success and audit.detail["delivery"] == "no_pacs"


@pytest.mark.django_db
def test_our_own_sr_arriving_in_the_archive_never_becomes_an_ai_result(
    signed_report, django_capture_on_commit_callbacks
):
    from ai_overlays.dicom_result_tasks import import_dicom_result
    from ai_overlays.models import AIResult

    results_before = AIResult.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_report.enqueue(signed_report.pk)
    signed_report.refresh_from_db()
    instance = Instance.objects.get(sop_instance_uid=signed_report.sr_sop_instance_uid)
    # The same object back from the PACS (a pull, any other way in) is recognised by its content.
    assert import_dicom_result.call(instance.pk) == "reading_report"
    assert AIResult.objects.count() == results_before


@pytest.mark.django_db
def test_the_delivered_sr_holds_the_decisions_taken_in_the_database(signed_report):
    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    content = stored_sr(signed_report).content
    planar = planar_groups(content)
    ai_ids = sorted(Finding.objects.values_list("id", flat=True))
    reader_id = ReaderFinding.objects.get().pk
    accepted, modified, rejected, box3d = (f"ai-{pk}" for pk in ai_ids)
    assert sorted(planar) == sorted([accepted, modified, box3d, f"reader-{reader_id}"])
    assert planar[modified].roi.value.tolist() == [[30, 30], [40, 31], [36, 40], [30, 30]]
    assert planar[modified].tracking_identifier.endswith("Part-solid nodule")
    # The 3D box is drawn on the slice at its centre (slice 2 of the viewer's order, head first).
    centre = planar[box3d].roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    head_first = signed_report.study.series.get(modality="CT").instances.order_by("-image_position__2")
    assert centre == head_first[2].sop_instance_uid
    [rejected_group] = content.get_image_measurement_groups()
    assert rejected_group.tracking_identifier.startswith(rejected)
    assert evaluations(rejected_group)[REJECTION_REASON.meaning] == "False positive: artefact"
    assert str(stored_sr(signed_report).VerifyingObserverSequence[0].VerifyingObserverName) == "Kim^Minjun"


@pytest.mark.django_db
def test_a_pacs_that_is_down_fails_the_delivery_with_the_reason_and_the_report_stays_signed(
    signed_report, settings, no_pause
):
    settings.PACS_DICOMWEB_URL = f"http://127.0.0.1:{free_port()}/dicom-web"

    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.status == ReportStatus.SIGNED
    assert signed_report.pacs_delivery == PacsDelivery.FAILED
    assert signed_report.pacs_detail == "the PACS cannot be reached (after 3 attempts)"
    audit = AuditEvent.objects.get(action=AuditAction.REPORT_SENT)
    assert not audit.success and audit.study_uid == signed_report.study.study_instance_uid
    assert Instance.objects.filter(sop_instance_uid=signed_report.sr_sop_instance_uid).exists()


@pytest.mark.django_db
def test_orthanc_receives_the_sr_in_the_right_study_over_stow_rs(signed_report, settings, orthanc):
    settings.PACS_DICOMWEB_URL = orthanc.dicomweb

    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.pacs_delivery == PacsDelivery.SENT
    assert signed_report.pacs_detail == "sent over STOW-RS (attempt 1)"
    assert_orthanc_holds(orthanc, signed_report)


@pytest.mark.django_db
def test_a_retried_delivery_sends_the_same_sr_again(signed_report, settings, orthanc, no_pause):
    settings.PACS_DICOMWEB_URL = f"http://127.0.0.1:{free_port()}/dicom-web"
    deliver_report.enqueue(signed_report.pk)
    settings.PACS_DICOMWEB_URL = orthanc.dicomweb

    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.pacs_delivery == PacsDelivery.SENT
    assert Instance.objects.filter(series__modality="SR").count() == 1
    assert_orthanc_holds(orthanc, signed_report)


@pytest.mark.django_db
def test_orthanc_receives_the_sr_over_c_store_when_a_store_ae_is_set(signed_report, settings, orthanc):
    _put(orthanc, "/modalities/readingws", {"AET": settings.DICOM_AE_TITLE, "Host": "127.0.0.1", "Port": 104})
    settings.PACS_STORE_AE = f"{orthanc.aet}@127.0.0.1:{orthanc.dicom_port}"

    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.pacs_delivery == PacsDelivery.SENT
    assert signed_report.pacs_detail == "sent over C-STORE (attempt 1)"
    assert_orthanc_holds(orthanc, signed_report)


@pytest.mark.django_db
def test_a_store_ae_that_refuses_us_fails_the_delivery(signed_report, settings, orthanc, no_pause):
    settings.PACS_STORE_AE = f"NOT_ORTHANC@127.0.0.1:{orthanc.dicom_port}"

    deliver_report.enqueue(signed_report.pk)

    signed_report.refresh_from_db()
    assert signed_report.pacs_delivery == PacsDelivery.FAILED
    assert signed_report.pacs_detail.startswith("the PACS refused or did not answer the DICOM association")


def assert_orthanc_holds(orthanc, report: Report) -> None:
    [found] = _post(orthanc, "/tools/lookup", report.sr_sop_instance_uid)
    instance = orthanc.get(f"/instances/{found['ID']}")
    study = orthanc.get(f"/instances/{found['ID']}/study")
    assert study["MainDicomTags"]["StudyInstanceUID"] == report.study.study_instance_uid
    assert instance["MainDicomTags"]["SOPInstanceUID"] == report.sr_sop_instance_uid


def _post(orthanc, path: str, body: str):
    request = urllib.request.Request(orthanc.base + path, data=body.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _put(orthanc, path: str, body: dict) -> None:
    request = urllib.request.Request(orthanc.base + path, data=json.dumps(body).encode(), method="PUT")
    urllib.request.urlopen(request, timeout=10).close()


def test_a_finding_on_an_image_outside_the_study_cannot_be_built(ct):
    stray = ReportedFinding("reader-9", "mass", "Mass", "point", {"point": [1, 1]}, "1.2.3.4", 1)

    with pytest.raises(ReportNotBuildable):
        build_report_sr(
            images=ct.datasets, findings=[stray], reader_name="Kim^Minjun", impression="",
            series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(),
        )  # fmt: skip
