"""DICOM SEG, Parametric Map and SR TID 1500 arriving through ingest become AI results: round trips
made with highdicom on a small synthetic CT, the real samples with their source images, and the
refusals of RELIABILITY B17 (foreign study or patient, out of bounds, never attached elsewhere)."""

import io
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from accounts.models import AuditAction, AuditEvent
from ai_overlays.dicom_result_tasks import import_dicom_result
from ai_overlays.models import AIResult, Finding, Heatmap
from dicomkit.synthetic import chest_ct
from tests.conftest import samples_dir
from worklist.ingest import ingest
from worklist.models import Instance

pytestmark = pytest.mark.django_db

SPHERE_CENTRE = (40, 24, 5)  # column, row, slice
SPHERE_RADIUS = 4


def dicom_bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def small_ct(seed: int = 7) -> list:
    return chest_ct(slices=10, size=64, seed=seed, nodule_count=0).datasets


def sphere_mask(datasets) -> np.ndarray:
    slices, rows, columns = len(datasets), datasets[0].Rows, datasets[0].Columns
    z, y, x = np.mgrid[0:slices, 0:rows, 0:columns]
    column, row, index = SPHERE_CENTRE
    return (x - column) ** 2 + (y - row) ** 2 + (z - index) ** 2 <= SPHERE_RADIUS**2


def nodule_seg(datasets, mask: np.ndarray):
    algorithm = hd.AlgorithmIdentificationSequence(
        name="NoduleNet", family=codes.DCM.ArtificialIntelligence, version="3.2"
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Nodule 1",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=generate_uid(),
        series_number=90,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Acme",
        manufacturer_model_name="NoduleNet",
        software_versions="3.2",
        device_serial_number="1",
    )


def nodule_report(image, outline: np.ndarray):
    algorithm = hd.sr.AlgorithmIdentification(name="NoduleNet", version="3.2")
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Nodule 7"),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=outline,
            source_image=hd.sr.SourceImageForRegion.from_source_image(image),
        ),
        finding_type=codes.SCT.Nodule,
        measurements=[
            hd.sr.Measurement(name=codes.SCT.Diameter, value=8.0, unit=codes.UCUM.Millimeter, algorithm_id=algorithm)
        ],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), manufacturer_name="Acme", model_name="NoduleNet"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[image],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=91,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Acme",
    )


@pytest.fixture
def store(sites, django_capture_on_commit_callbacks):
    """Ingest objects as an archive client would, running what waits for the commit (the import task)."""

    def store_all(*datasets_or_bytes):
        results = []
        for item in datasets_or_bytes:
            data = item if isinstance(item, bytes) else dicom_bytes(item)
            with django_capture_on_commit_callbacks(execute=True):
                results.append(ingest(data, site=sites["SUWON"], source="test"))
        return results

    return store_all


def refusal_of(sop_instance_uid: str) -> AuditEvent:
    return AuditEvent.objects.get(action=AuditAction.INSTANCE_REFUSED, detail__sop_instance_uid=sop_instance_uid)


def png_pixels(heatmap: Heatmap) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(bytes(heatmap.png))))


def test_a_segmentation_becomes_an_outline_on_the_sphere_slice_and_heatmaps_equal_to_its_mask(store):
    ct = small_ct()
    mask = sphere_mask(ct)
    seg = nodule_seg(ct, mask)
    store(*ct, seg)

    result = AIResult.objects.get()
    assert (result.result_id, result.source) == (seg.SOPInstanceUID, "dicom_seg")
    assert result.study.study_instance_uid == ct[0].StudyInstanceUID
    model = result.ai_model
    assert (model.vendor, model.product, model.version) == ("Acme", "NoduleNet", "3.2")
    assert (model.clinical_area, model.modalities, model.is_active) == (result.study.clinical_area, "CT", True)

    finding = Finding.objects.get()
    column, row, index = SPHERE_CENTRE
    assert (finding.finding_type, finding.label, finding.geometry_kind) == ("nodule", "Nodule 1", "polygon")
    assert finding.sop_instance_uid == ct[index].SOPInstanceUID
    outline = np.array(finding.geometry["polygon"])
    # The centre pixel (column, row) spans column..column+1: its middle is at +0.5.
    assert np.allclose(outline.mean(axis=0), (column + 0.5, row + 0.5), atol=0.5)
    assert np.allclose(outline.min(axis=0), (column - SPHERE_RADIUS, row - SPHERE_RADIUS), atol=0.6)
    assert np.allclose(outline.max(axis=0), (column + SPHERE_RADIUS + 1, row + SPHERE_RADIUS + 1), atol=0.6)

    touched = [slice_index for slice_index in range(len(ct)) if mask[slice_index].any()]
    heatmaps = {heatmap.sop_instance_uid: heatmap for heatmap in Heatmap.objects.all()}
    assert set(heatmaps) == {ct[slice_index].SOPInstanceUID for slice_index in touched}
    for slice_index in touched:
        pixels = png_pixels(heatmaps[ct[slice_index].SOPInstanceUID])
        assert np.array_equal(pixels > 0, mask[slice_index])
        assert set(np.unique(pixels)) == {0, 255}


def test_a_measurement_report_becomes_a_polygon_on_the_referenced_image(store):
    ct = small_ct()
    outline = np.array([[30.0, 20.0], [44.0, 20.0], [44.0, 30.0], [30.0, 30.0], [30.0, 20.0]])
    report = nodule_report(ct[3], outline)
    store(*ct, report)

    result = AIResult.objects.get()
    assert (result.result_id, result.source) == (report.SOPInstanceUID, "dicom_sr")
    model = result.ai_model
    assert (model.vendor, model.product, model.version) == ("Acme", "NoduleNet", "3.2")
    finding = Finding.objects.get()
    assert (finding.finding_type, finding.label, finding.geometry_kind) == ("nodule", "Nodule 7", "polygon")
    assert (finding.sop_instance_uid, finding.frame) == (ct[3].SOPInstanceUID, 1)
    assert finding.geometry["polygon"] == outline[:-1].tolist()


def test_a_parametric_map_becomes_one_heatmap_per_frame_scaled_to_its_range(store):
    ct = small_ct()
    values = np.zeros((len(ct), ct[0].Rows, ct[0].Columns), dtype=np.float32)
    values[2, 10:20, 10:20] = 0.5
    values[4, 30:40, 30:40] = 1.0
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="probability",
        lut_explanation="nodule probability",
        unit=codes.UCUM.NoUnits,
        value_range=(0.0, 1.0),
        slope=1,
        intercept=0,
    )
    parametric_map = hd.pm.ParametricMap(
        source_images=ct,
        pixel_array=values,
        series_instance_uid=generate_uid(),
        series_number=92,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Acme",
        manufacturer_model_name="NoduleMap",
        software_versions="1.0",
        device_serial_number="1",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
    )
    store(*ct, parametric_map)

    result = AIResult.objects.get()
    assert result.source == "dicom_pm"
    assert (result.ai_model.product, result.ai_model.version) == ("NoduleMap", "1.0")
    heatmaps = {heatmap.sop_instance_uid: png_pixels(heatmap) for heatmap in Heatmap.objects.all()}
    assert len(heatmaps) == len(ct)
    assert heatmaps[ct[4].SOPInstanceUID].max() == 255
    assert set(np.unique(heatmaps[ct[2].SOPInstanceUID])) == {0, 128}
    assert not heatmaps[ct[0].SOPInstanceUID].any()


def test_the_same_segmentation_twice_is_one_result(store):
    ct = small_ct()
    seg = nodule_seg(ct, sphere_mask(ct))
    first, again = store(*ct, seg, seg)[-2:]
    assert (first.outcome, again.outcome) == ("stored", "already_present")
    # Running the import again (a retried task) answers with the stored result.
    assert import_dicom_result.call(first.instance_id) == "repeat"
    assert AIResult.objects.count() == 1
    assert Finding.objects.count() == 1


def test_a_segmentation_of_another_study_is_refused_with_its_reason_and_attached_nowhere(store):
    ours, theirs = small_ct(seed=7), small_ct(seed=8)
    store(*ours, *theirs)
    seg = nodule_seg(theirs, sphere_mask(theirs))
    # Claims to belong to our study and patient while its frames come from the other one. (highdicom
    # shares elements with its sources, so this is done after they are stored.)
    seg.StudyInstanceUID = ours[0].StudyInstanceUID
    seg.PatientID, seg.PatientName = ours[0].PatientID, ours[0].PatientName
    results = store(seg)

    assert results[-1].outcome == "stored"  # valid DICOM: it stays in the archive
    assert not AIResult.objects.exists()
    refusal = refusal_of(seg.SOPInstanceUID)
    assert refusal.study_uid == ours[0].StudyInstanceUID
    assert refusal.success is False
    assert refusal.detail["code"] in ("foreign_study", "foreign_instance")
    assert "not in this study" in refusal.detail["reason"] or "another study" in refusal.detail["reason"]


def test_a_segmentation_naming_another_patient_than_its_study_is_refused(store):
    ct = small_ct()
    store(*ct)
    seg = nodule_seg(ct, sphere_mask(ct))
    seg.PatientID = "SOMEONE-ELSE"
    store(seg)

    assert not AIResult.objects.exists()
    assert refusal_of(seg.SOPInstanceUID).detail["code"] == "foreign_patient"


def test_a_report_region_outside_its_image_is_refused(store):
    ct = small_ct()
    outline = np.array([[30.0, 20.0], [90.0, 20.0], [90.0, 30.0], [30.0, 30.0], [30.0, 20.0]])  # 64 columns
    report = nodule_report(ct[3], outline)
    store(*ct, report)

    assert not AIResult.objects.exists()
    assert refusal_of(report.SOPInstanceUID).detail["code"] == "out_of_bounds"


def test_a_report_whose_image_has_not_arrived_is_refused_rather_than_guessed(store):
    ct = small_ct()
    report = nodule_report(ct[3], np.array([[30.0, 20.0], [44.0, 20.0], [44.0, 30.0], [30.0, 20.0]]))
    store(*ct[:3], report)  # the referenced slice is not in the archive

    assert not AIResult.objects.exists()
    assert refusal_of(report.SOPInstanceUID).detail["code"] == "foreign_instance"
    assert Instance.objects.filter(sop_instance_uid=report.SOPInstanceUID).exists()


def test_ordinary_images_start_no_import(store):
    store(*small_ct())
    assert not AIResult.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.INSTANCE_REFUSED).exists()


# The real samples ------------------------------------------------------------------------------


def sample_bytes(*relative: str) -> list[bytes]:
    root = samples_dir()
    paths = [root / name for name in relative]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        pytest.skip(f"source images not among the samples: {missing}")
    return [path.read_bytes() for path in paths]


def ct_3slice() -> list[str]:
    return [f"dcmqi/ct-3slice/0{number}.dcm" for number in (1, 2, 3)]


def test_the_dcmqi_liver_segmentation_outlines_the_liver_on_its_three_ct_slices(store):
    *ct, seg = sample_bytes(*ct_3slice(), "dcmqi/ct-3slice/liver_seg.dcm")
    store(*ct, seg)

    result = AIResult.objects.get()
    assert (result.ai_model.vendor, result.source) == ("QIICR", "dicom_seg")
    finding = Finding.objects.get()
    assert (finding.finding_type, finding.label, finding.geometry_kind) == ("liver", "Liver", "polygon")
    assert Heatmap.objects.count() == 3
    source = dcmread(io.BytesIO(ct[0]), stop_before_pixels=True)
    assert {heatmap.rows for heatmap in Heatmap.objects.all()} == {source.Rows}


def test_the_dcmqi_overlapping_segments_become_five_findings(store):
    *ct, seg = sample_bytes(*ct_3slice(), "dcmqi/ct-3slice/partial_overlaps_seg.dcm")
    store(*ct, seg)

    assert Finding.objects.count() == 5
    assert Heatmap.objects.count() == 3  # one per source frame, the segments merged


def test_the_highdicom_fractional_segmentation_keeps_its_fractions(store):
    sources = sorted(Path(samples_dir() / "pydicom/dicomdirtests/77654033/CT2").iterdir())
    ct = sample_bytes(*[str(path.relative_to(samples_dir())) for path in sources])
    (seg,) = sample_bytes("highdicom/seg_image_ct_true_fractional.dcm")
    store(*ct, seg)

    result = AIResult.objects.get()
    assert (result.ai_model.product, result.ai_model.version) == ("test", "v1.0")
    values = set()
    for heatmap in Heatmap.objects.all():
        values |= set(np.unique(png_pixels(heatmap)).tolist())
    assert values - {0, 255}, "fractional values are kept, not binarised"


def test_the_highdicom_measurement_report_draws_its_circle_and_polygon_on_the_ct_image(store):
    ct, report = sample_bytes("highdicom/ct_image.dcm", "highdicom/sr_document_with_multiple_groups.dcm")
    store(ct, report)

    findings = {finding.label: finding for finding in Finding.objects.all()}
    assert set(findings) == {"LungNodule0001", "Aorta0001"}
    assert findings["Aorta0001"].geometry["polygon"] == [[25.0, 45.0], [45.0, 45.0], [45.0, 65.0], [25.0, 65.0]]
    nodule = np.array(findings["LungNodule0001"].geometry["polygon"])
    assert np.allclose(nodule.mean(axis=0), (45.0, 55.0), atol=0.1)  # circle centre (45, 55), radius 10


def test_the_glioma_segmentation_without_its_mr_series_is_refused(store):
    (seg,) = sample_bytes("orthanc-tests/TCGA-GBM_GlistrBoost_seg.dcm")
    store(seg)

    assert not AIResult.objects.exists()
    uid = dcmread(io.BytesIO(seg), stop_before_pixels=True).SOPInstanceUID
    assert refusal_of(uid).detail["code"] == "foreign_instance"
