"""The synthetic study generator: deterministic, valid DICOM, and lesion truth that matches the
pixels. Plain tests (no database); small sizes keep the file fast."""

import hashlib
import io
import math
import re
import time
from datetime import datetime, timedelta

import numpy as np
import pydicom
import pytest

from dicomkit import synthetic
from dicomkit.synthetic import (
    REFERENCE_DATETIME,
    brain_ct,
    brain_mri_t1,
    chest_ct,
    chest_xray,
    common,
    demo_catalogue,
    mammography_exam,
)
from dicomkit.synthetic import catalogue as catalogue_module

SCALE = 0.125
UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
REQUIRED = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "Modality",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "InstitutionName",
    "StudyDescription",
)


def encoded(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def digest(studies) -> str:
    sha = hashlib.sha256()
    for study in studies:
        for dataset in study.datasets:
            sha.update(encoded(dataset))
        sha.update(repr(study.lesions).encode())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def catalogue():
    return demo_catalogue(scale=SCALE)


def volume(study) -> tuple[np.ndarray, list[pydicom.Dataset]]:
    """HU (or stored) volume in InstanceNumber order, through a real write/read round trip."""
    datasets = sorted(
        (pydicom.dcmread(io.BytesIO(encoded(d))) for d in study.datasets),
        key=lambda d: d.InstanceNumber,
    )
    slope, intercept = (
        float(datasets[0].get("RescaleSlope", 1)),
        float(datasets[0].get("RescaleIntercept", 0)),
    )
    return np.stack([d.pixel_array.astype(np.float32) * slope + intercept for d in datasets]), datasets


def voxel_mm(datasets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patient x (columns), y (rows) and z (slices) coordinates of voxel centres."""
    first = datasets[0]
    spacing = float(first.PixelSpacing[0])
    x = float(first.ImagePositionPatient[0]) + spacing * np.arange(first.Columns)
    y = float(first.ImagePositionPatient[1]) + spacing * np.arange(first.Rows)
    z = np.array([float(d.ImagePositionPatient[2]) for d in datasets])
    return x, y, z


def sphere_mean(image, coordinates, centre, inner: float, outer: float = 0.0) -> float:
    x, y, z = coordinates
    distance = np.sqrt(
        (z[:, None, None] - centre[2]) ** 2 + (y[None, :, None] - centre[1]) ** 2 + (x[None, None, :] - centre[0]) ** 2
    )
    selected = (distance <= inner) if not outer else ((distance >= inner) & (distance <= outer))
    return float(image[selected].mean())


def test_same_seed_gives_identical_bytes():
    small = [
        lambda: chest_ct(slices=20, size=64, seed=5),
        lambda: chest_xray(size=256, seed=5),
        lambda: mammography_exam(rows=256, columns=208, seed=5),
        lambda: brain_ct(slices=10, size=64, seed=5),
        lambda: brain_mri_t1(slices=20, size=64, seed=5),
    ]
    for make in small:
        assert digest([make()]) == digest([make()])
    assert digest([chest_xray(size=256, seed=5)]) != digest([chest_xray(size=256, seed=6)])


def test_catalogue_is_deterministic(catalogue):
    assert digest(demo_catalogue(scale=SCALE)) == digest(catalogue)


def test_generation_never_reads_the_clock(monkeypatch):
    baseline = digest([brain_ct(slices=10, size=64, seed=9)])

    class NoClock(datetime):
        @classmethod
        def now(cls, tz=None):
            raise AssertionError("the generator read the wall clock")

        today = utcnow = now

    monkeypatch.setattr(common, "datetime", NoClock)
    monkeypatch.setattr(time, "time", lambda: 4102444800.0)
    monkeypatch.setattr(time, "time_ns", lambda: 4102444800 * 10**9)
    assert digest([brain_ct(slices=10, size=64, seed=9)]) == baseline


def test_every_dataset_round_trips_with_its_pixels(catalogue):
    sop_instance_uids = set()
    for study in catalogue:
        for dataset in study.datasets:
            read = pydicom.dcmread(io.BytesIO(encoded(dataset)))
            assert read.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert read.file_meta.MediaStorageSOPInstanceUID == read.SOPInstanceUID
            for keyword in REQUIRED:
                assert keyword in read, f"{study.modality} lacks {keyword}"
            for keyword in (
                "SOPInstanceUID",
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPClassUID",
            ):
                assert UID.match(read[keyword].value) and len(read[keyword].value) <= 64
            np.testing.assert_array_equal(read.pixel_array, dataset.pixel_array)
            assert read.StudyInstanceUID == study.study_instance_uid
            assert read.PatientID == study.patient_id
            sop_instance_uids.add(read.SOPInstanceUID)
    assert len(sop_instance_uids) == sum(len(study.datasets) for study in catalogue)
    assert len({study.study_instance_uid for study in catalogue}) == len(catalogue)


def test_catalogue_covers_every_area_at_every_site(catalogue):
    covered = {(study.site_code, study.clinical_area) for study in catalogue}
    assert covered == {
        (site, area) for site in ("SUWON", "ICHEON", "ANSEONG") for area in ("lung", "breast", "stroke", "dementia")
    }
    assert any(not study.lesions for study in catalogue), "a normal study"
    modalities = {study.modality for study in catalogue}
    assert modalities == {"CT", "DX", "MG", "MR"}


def test_catalogue_dates_are_relative_to_the_fixed_reference(catalogue):
    for study in catalogue:
        when = datetime.strptime(study.study_date + study.datasets[0].StudyTime[:6], "%Y%m%d%H%M%S")
        assert when <= REFERENCE_DATETIME
        age = REFERENCE_DATETIME - when
        assert age < timedelta(days=8) or timedelta(days=360) < age < timedelta(days=372)


def test_catalogue_has_a_prior_mammogram_one_year_earlier(catalogue):
    breast = [study for study in catalogue if study.clinical_area == "breast"]
    by_patient = {}
    for study in breast:
        by_patient.setdefault((study.site_code, study.patient_id), []).append(study)
    pairs = [studies for studies in by_patient.values() if len(studies) == 2]
    assert len(pairs) == 1
    prior, current = sorted(pairs[0], key=lambda study: study.study_date)
    gap = datetime.strptime(current.study_date, "%Y%m%d") - datetime.strptime(prior.study_date, "%Y%m%d")
    assert timedelta(days=350) < gap < timedelta(days=380)
    # Same woman, same breast: the mass sits in the same place and has grown.
    assert [lesion.measure["laterality"] for lesion in prior.lesions] == [
        lesion.measure["laterality"] for lesion in current.lesions
    ]
    assert prior.lesions[0].centre_voxel == pytest.approx(current.lesions[0].centre_voxel, abs=1.0)
    assert prior.lesions[0].diameter_mm < current.lesions[0].diameter_mm


def test_catalogue_has_one_person_at_two_sites_under_different_ids(catalogue):
    people = {}
    for study in catalogue:
        first = study.datasets[0]
        person = (str(first.PatientName), first.PatientBirthDate, first.PatientSex)
        people.setdefault(person, set()).add((study.site_code, study.patient_id, first.IssuerOfPatientID))
    shared = {person: records for person, records in people.items() if len({site for site, _, _ in records}) > 1}
    assert len(shared) == 1
    records = next(iter(shared.values()))
    assert len({patient_id for _, patient_id, _ in records}) == len(records)
    assert {issuer for _, _, issuer in records} == {site for site, _, _ in records}


def test_korean_names_decode_in_both_character_sets(catalogue):
    charsets = {}
    for study in catalogue:
        raw = encoded(study.datasets[0])
        read = pydicom.dcmread(io.BytesIO(raw))
        charset = read.SpecificCharacterSet
        charsets[charset if isinstance(charset, str) else "\\".join(charset)] = (
            read,
            raw,
        )
        assert re.fullmatch(r"[가-힣]+\^[가-힣]+", str(read.PatientName))
    assert set(charsets) == {"ISO_IR 192", "\\ISO 2022 IR 149"}
    read, raw = charsets["\\ISO 2022 IR 149"]
    assert str(read.PatientName) == "박^성호"
    assert b"\x1b$)C" in raw  # the KS X 1001 escape sequence, as PS3.5 Annex H shows
    read, raw = charsets["ISO_IR 192"]
    assert str(read.PatientName).encode("utf-8") in raw


def test_chest_ct_geometry_and_nodules_are_where_the_truth_says():
    study = chest_ct(slices=60, size=128, seed=11, nodule_count=3)
    hu, datasets = volume(study)
    first = datasets[0]
    assert first.Modality == "CT" and first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert (first.RescaleIntercept, first.RescaleSlope, first.PixelRepresentation) == (
        -1024,
        1,
        1,
    )
    assert list(first.ImageOrientationPatient) == [1, 0, 0, 0, 1, 0]
    assert (first.WindowCenter, first.WindowWidth, first.BodyPartExamined) == (
        -600,
        1500,
        "CHEST",
    )
    z = np.array([float(d.ImagePositionPatient[2]) for d in datasets])
    assert np.allclose(np.diff(z), -float(first.SliceThickness))
    assert len({d.FrameOfReferenceUID for d in datasets}) == 1
    coordinates = voxel_mm(datasets)
    assert len(study.lesions) == 3
    for nodule in study.lesions:
        assert nodule.kind == "lung_nodule" and 6.0 <= nodule.diameter_mm <= 20.0
        column, _, index = nodule.centre_voxel
        assert coordinates[0][0] + column * float(first.PixelSpacing[0]) == pytest.approx(nodule.centre_mm[0], abs=0.01)
        assert datasets[round(index)].SOPInstanceUID == nodule.sop_instance_uid
        radius = nodule.diameter_mm / 2.0
        core = sphere_mean(hu, coordinates, nodule.centre_mm, max(radius * 0.5, 2.0))
        lung = sphere_mean(hu, coordinates, nodule.centre_mm, radius + 4.0, radius + 12.0)
        assert lung < -550.0, "nodules sit in aerated lung"
        assert core > lung + 350.0
    body = hu[:, hu.shape[1] // 2, :]
    assert (body < -950).any() and (body > 500).any(), "air and bone in the same slice"


def test_brain_ct_haemorrhage_is_brighter_than_the_other_hemisphere():
    study = brain_ct(slices=15, size=128, seed=4)
    hu, datasets = volume(study)
    assert datasets[0].BodyPartExamined == "HEAD" and (
        datasets[0].WindowCenter,
        datasets[0].WindowWidth,
    ) == (40, 80)
    (bleed,) = study.lesions
    assert bleed.kind == "haemorrhage" and 60.0 <= bleed.measure["hu"] <= 80.0
    coordinates = voxel_mm(datasets)
    radius = bleed.diameter_mm / 2.0
    x, y, z = bleed.centre_mm
    inside = sphere_mean(hu, coordinates, (x, y, z), radius * 0.4)
    mirrored = sphere_mean(hu, coordinates, (-x, y, z), radius * 0.4)
    assert inside > mirrored + 20.0
    assert 15.0 < mirrored < 45.0, "contralateral brain parenchyma"
    assert (bleed.measure["side"] == "left") == (x > 0)


def test_brain_mri_atrophy_grade_enlarges_the_ventricles():
    mild = brain_mri_t1(slices=40, size=64, seed=2, atrophy_grade=1)
    severe = brain_mri_t1(slices=40, size=64, seed=2, atrophy_grade=3)
    assert mild.datasets[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and mild.datasets[0].MRAcquisitionType == "3D"
    (mild_truth,), (severe_truth,) = mild.lesions, severe.lesions
    assert mild_truth.kind == severe_truth.kind == "atrophy" and mild_truth.sop_instance_uid is None
    assert severe_truth.measure["ventricle_volume_ml"] > 1.5 * mild_truth.measure["ventricle_volume_ml"]
    assert severe_truth.measure["atrophy_grade"] == 3
    # The pixels agree: more dark CSF around the ventricles' centre.
    signals = []
    for study in (mild, severe):
        signal, datasets = volume(study)
        coordinates = voxel_mm(datasets)
        signals.append(sphere_mean(signal, coordinates, study.lesions[0].centre_mm, 22.0))
    assert signals[1] < signals[0] - 30.0
    assert brain_mri_t1(slices=40, size=64, seed=2, atrophy_grade=0).lesions == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mammography_views_and_mass_truth(seed):
    study = mammography_exam(rows=512, columns=416, seed=seed)
    views = [(d.ImageLaterality, d.ViewPosition) for d in study.datasets]
    assert views == [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]
    codes = {d.ViewPosition: d.ViewCodeSequence[0].CodeValue for d in study.datasets}
    assert codes == {"CC": "399162004", "MLO": "399368009"}
    for dataset in study.datasets:
        assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.2"
        pixels = dataset.pixel_array.astype(float)
        left, right = pixels[:, :20].mean(), pixels[:, -20:].mean()
        # The chest wall is on the right edge for a right breast and the left edge for a left one.
        assert (right > left) if dataset.ImageLaterality == "R" else (left > right)
    assert len(study.lesions) == 2
    assert len({lesion.measure["laterality"] for lesion in study.lesions}) == 1
    assert {lesion.measure["view"] for lesion in study.lesions} == {"CC", "MLO"}
    spacing = float(study.datasets[0].PixelSpacing[0])
    for mass in study.lesions:
        (dataset,) = [d for d in study.datasets if d.SOPInstanceUID == mass.sop_instance_uid]
        assert dataset.ImageLaterality == mass.measure["laterality"]
        pixels = dataset.pixel_array.astype(float)
        rows, columns = np.indices(pixels.shape)
        distance = np.hypot(columns - mass.centre_voxel[0], rows - mass.centre_voxel[1]) * spacing
        radius = mass.diameter_mm / 2.0
        assert (
            pixels[distance < radius * 0.5].mean()
            > pixels[(distance > radius * 3.0) & (distance < radius * 4.0)].mean()
        )


def test_chest_xray_nodule_and_inverted_grey_site():
    study = chest_xray(size=512, seed=8, site_code="ICHEON")
    (dataset,) = study.datasets
    assert (
        dataset.Modality,
        dataset.ViewPosition,
        dataset.PhotometricInterpretation,
    ) == ("DX", "PA", "MONOCHROME1")
    assert dataset.PresentationLUTShape == "INVERSE" and dataset.BitsStored == 12
    assert "ImagerPixelSpacing" in dataset and "PixelSpacing" in dataset
    # MONOCHROME1: low stored values display bright, so invert to compare brightness.
    brightness = 4095.0 - dataset.pixel_array.astype(float)
    (nodule,) = study.lesions
    assert 10.0 <= nodule.diameter_mm <= 25.0 and nodule.centre_mm is None
    spacing = float(dataset.PixelSpacing[0])
    rows, columns = np.indices(brightness.shape)
    distance = np.hypot(columns - nodule.centre_voxel[0], rows - nodule.centre_voxel[1]) * spacing
    radius = nodule.diameter_mm / 2.0
    assert (
        brightness[distance < radius * 0.5].mean()
        > brightness[(distance > radius * 1.5) & (distance < radius * 2.5)].mean()
    )
    normal = chest_xray(size=256, seed=8, site_code="SUWON", nodule=False)
    assert normal.lesions == [] and normal.datasets[0].PhotometricInterpretation == "MONOCHROME2"


def test_public_api_names():
    for name in (
        "Lesion",
        "DemoStudy",
        "demo_catalogue",
        "chest_ct",
        "chest_xray",
        "mammography_exam",
        "brain_ct",
        "brain_mri_t1",
    ):
        assert hasattr(synthetic, name)
    assert len(catalogue_module.ENTRIES) >= 12
    assert math.isclose(float(chest_ct(slices=12, size=64, seed=1).datasets[0].SliceThickness), 25.0)
