"""De-identification (dicomkit.deidentify): the canary corpus, dates, determinism, references,
dciodvfy, the PHI scanner and the series checks."""

import copy
import io
import re
import subprocess

import numpy as np
import pytest
from pydicom import Dataset, dcmread, dcmwrite

from dicomkit.deidentify import (
    BlankingRule,
    Excluded,
    Keys,
    Options,
    PatientMapping,
    deidentified_bytes,
    deidentify,
    deidentify_file,
    pseudonym_for,
    remap_uid,
    scan_for_phi,
    series_problems,
    write_deidentified,
)
from dicomkit.deidentify.dates import shift_date
from dicomkit.deidentify.descriptors import clean_descriptor
from dicomkit.deidentify.phi_scan import name_patterns, rrn_is_well_formed, text_hits
from dicomkit.synthetic import chest_ct
from tests.conftest import require_tool
from tests.dicomkit.canary_corpus import SAFE_B_VALUE, byte_forms, canary_dataset

KEYS = Keys(secret=b"test-secret-0123456789abcdef0123")
PATIENT = PatientMapping(pseudonym="PSEUDO0000000001", date_offset_days=-400)


def _written(dataset: Dataset, **kwargs) -> bytes:
    result = deidentify(dataset, keys=KEYS, patient=PATIENT, options=Options(), **kwargs)
    buffer = io.BytesIO()
    write_deidentified(result, buffer)
    return buffer.getvalue()


def _file_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ct_series():
    study = chest_ct(slices=4, size=32, seed=5, nodule_count=0)
    return [dcmread(io.BytesIO(_file_bytes(dataset))) for dataset in study.datasets]


def test_no_canary_survives_in_any_byte_of_the_written_file():
    dataset, canaries = canary_dataset()
    data = _written(dataset)
    survivors = [value for value in canaries.values if any(form in data for form in byte_forms(value))]
    assert len(canaries.values) > 450
    assert survivors == []


def test_the_korean_name_canary_is_really_written_in_iso_2022_ir_149_before_de_identification():
    dataset, _ = canary_dataset()
    assert "길동".encode("euc_kr") in _file_bytes(dataset)


def test_safe_private_tag_is_kept_with_its_private_creator_and_the_rest_removed():
    dataset, _ = canary_dataset()
    result = dcmread(io.BytesIO(_written(dataset)))
    assert result[0x00190010].value == "SIEMENS MR HEADER"
    assert str(result[0x0019100C].value).encode() == SAFE_B_VALUE
    assert [tag for tag in result.keys() if tag.group % 2] == [0x00190010, 0x0019100C]


def test_identity_attributes_method_codes_and_characteristics_are_written():
    dataset, _ = canary_dataset()
    result = dcmread(io.BytesIO(_written(dataset)))
    assert result.PatientName == PATIENT.pseudonym and result.PatientID == PATIENT.pseudonym
    assert result.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in result.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113107", "113108", "113111"]
    assert result.LongitudinalTemporalInformationModified == "MODIFIED"
    assert (result.PatientAge, result.PatientSex) == ("064Y", "M")
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert _written(dataset)[:128] == b"\x00" * 128


def test_dates_move_by_the_patients_offset_so_intervals_are_kept_and_times_stay(ct_series):
    original = copy.deepcopy(ct_series[0])
    original.StudyDate, original.StudyTime = "20240229", "101500"
    original.ContentDate, original.AcquisitionDateTime = "20240302", "20240301083000.5+0900"
    result = deidentify(original, keys=KEYS, patient=PATIENT, options=Options())
    assert result.StudyDate == "20230125"  # 2024-02-29 minus 400 days
    assert result.ContentDate == "20230127"  # still two days after the study
    assert result.AcquisitionDateTime == "20230126083000.5+0900"
    assert result.StudyTime == "101500"


def test_the_same_input_twice_gives_byte_identical_output_and_another_key_other_uids():
    dataset, _ = canary_dataset()
    assert _written(dataset) == _written(canary_dataset()[0])
    assert remap_uid("1.2.3.4", KEYS) == remap_uid("1.2.3.4", KEYS) != remap_uid("1.2.3.4", Keys(b"other"))
    assert re.fullmatch(r"2\.25\.[1-9]\d{0,38}", remap_uid("1.2.3.4", KEYS))
    assert pseudonym_for("person-17", KEYS) == pseudonym_for("person-17", KEYS) != pseudonym_for("person-18", KEYS)


def test_seg_and_sr_made_with_highdicom_still_reference_the_remapped_ct_uids(ct_series):
    highdicom = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    mask = np.zeros((len(ct_series), 32, 32), dtype=bool)
    mask[1:3, 10:20, 10:20] = True
    segment = highdicom.seg.SegmentDescription(
        segment_number=1,
        segment_label="nodule",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Nodule,
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = highdicom.seg.Segmentation(
        source_images=ct_series,
        pixel_array=mask,
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=highdicom.UID(),
        series_number=90,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="Test",
        manufacturer_model_name="Test",
        software_versions="1",
        device_serial_number="1",
    )
    observer = highdicom.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=highdicom.sr.PersonObserverIdentifyingAttributes(name="Kim^Reader"),
    )
    group = highdicom.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=highdicom.sr.TrackingIdentifier(uid=highdicom.UID(), identifier="lesion 1"),
        referenced_region=highdicom.sr.ImageRegion(
            graphic_type=highdicom.sr.GraphicTypeValues.CIRCLE,
            graphic_data=np.array([[15.0, 15.0], [18.0, 15.0]]),
            source_image=highdicom.sr.SourceImageForRegion.from_source_image(ct_series[1]),
        ),
    )
    report = highdicom.sr.MeasurementReport(
        observation_context=highdicom.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group],
    )
    sr = highdicom.sr.Comprehensive3DSR(
        evidence=ct_series,
        content=report,
        series_instance_uid=highdicom.UID(),
        series_number=91,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
    )
    ct_uids = {remap_uid(d.SOPInstanceUID, KEYS) for d in ct_series}
    out_seg = dcmread(io.BytesIO(_written(dcmread(io.BytesIO(_file_bytes(seg))))))
    out_sr = dcmread(io.BytesIO(_written(dcmread(io.BytesIO(_file_bytes(sr))))))
    seg_refs = {
        item.ReferencedSOPInstanceUID
        for series in out_seg.ReferencedSeriesSequence
        for item in series.ReferencedInstanceSequence
    }
    assert seg_refs == ct_uids
    assert out_seg.StudyInstanceUID == out_sr.StudyInstanceUID == remap_uid(ct_series[0].StudyInstanceUID, KEYS)
    evidence = {
        item.ReferencedSOPInstanceUID
        for study in out_sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert evidence == ct_uids
    image_refs = re.findall(rb"2\.25\.\d+", _written(dcmread(io.BytesIO(_file_bytes(sr)))))
    assert remap_uid(ct_series[1].SOPInstanceUID, KEYS).encode() in image_refs
    assert b"Kim" not in _written(dcmread(io.BytesIO(_file_bytes(sr))))


def _dcmwrite_bytes(result: Dataset) -> bytes:
    result.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    dcmwrite(buffer, result, enforce_file_format=True)
    return buffer.getvalue()


def _deidentified(dataset: Dataset) -> Dataset:
    return deidentify(dataset, keys=KEYS, patient=PATIENT, options=Options())


def test_the_direct_encoder_writes_exactly_the_bytes_pydicom_writes(ct_series):
    canary, _ = canary_dataset()
    assert deidentified_bytes(_deidentified(canary)) == _dcmwrite_bytes(_deidentified(canary_dataset()[0]))
    for dataset in ct_series[:2]:
        assert deidentified_bytes(_deidentified(dataset)) == _dcmwrite_bytes(_deidentified(dataset))


def test_deidentify_file_gives_the_written_bytes_of_deidentify_from_bytes_or_a_path(ct_series, tmp_path):
    data = _file_bytes(ct_series[2])
    path = tmp_path / "in.dcm"
    path.write_bytes(data)
    expected = _written(dcmread(io.BytesIO(data)))
    options = {"keys": KEYS, "patient": PATIENT, "options": Options()}
    assert deidentify_file(data, **options) == deidentify_file(path, **options) == expected
    result = dcmread(io.BytesIO(expected))
    assert result.PixelData == ct_series[2].PixelData
    assert result.SOPInstanceUID == remap_uid(ct_series[2].SOPInstanceUID, KEYS)


def test_encapsulated_pixel_data_is_copied_fragment_for_fragment(ct_series):
    from pydicom.uid import RLELossless

    image = copy.deepcopy(ct_series[0])
    image.compress(RLELossless)
    source = dcmread(io.BytesIO(_file_bytes(image)))
    data = deidentified_bytes(_deidentified(source))
    assert data == _dcmwrite_bytes(_deidentified(dcmread(io.BytesIO(_file_bytes(image)))))
    result = dcmread(io.BytesIO(data))
    assert result.file_meta.TransferSyntaxUID == RLELossless
    assert result.PixelData == source.PixelData
    assert (result.pixel_array == ct_series[0].pixel_array).all()


def test_an_implicit_vr_object_is_written_by_pydicom_in_its_own_syntax(ct_series):
    from pydicom.uid import ImplicitVRLittleEndian

    image = copy.deepcopy(ct_series[1])
    image.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    source = dcmread(io.BytesIO(_file_bytes(image)))
    result = dcmread(io.BytesIO(deidentified_bytes(_deidentified(source))))
    assert result.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert result.PatientName == PATIENT.pseudonym
    assert result.StudyDate == shift_date(source.StudyDate, PATIENT.date_offset_days)
    assert result.PixelData == ct_series[1].PixelData


def _dciodvfy_errors(dciodvfy: str, data: bytes, tmp_path, name: str) -> set[str]:
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return {re.sub(r"\s+", " ", line.strip()) for line in lines if line.startswith("Error")}


def test_dciodvfy_finds_no_new_errors_on_de_identified_ct(ct_series, tmp_path):
    dciodvfy = require_tool("dciodvfy")
    before = _dciodvfy_errors(dciodvfy, _file_bytes(ct_series[0]), tmp_path, "in.dcm")
    after = _dciodvfy_errors(dciodvfy, _written(ct_series[0]), tmp_path, "out.dcm")
    assert after - before == set()


def test_ultrasound_and_burned_in_images_are_excluded_unless_a_blanking_rule_exists(ct_series):
    image = copy.deepcopy(ct_series[0])
    image.BurnedInAnnotation = "YES"
    image.Manufacturer, image.ManufacturerModelName = "Acme", "Scope 1"
    with pytest.raises(Excluded) as excluded:
        deidentify(image, keys=KEYS, patient=PATIENT, options=Options())
    assert excluded.value.code == "burned_in_annotation"
    rule = BlankingRule(manufacturer="ACME", model="scope 1", rectangles=((0, 0, 32, 4),))
    result = deidentify(image, keys=KEYS, patient=PATIENT, options=Options(blanking_rules=(rule,)))
    assert result.BurnedInAnnotation == "NO"
    assert not result.pixel_array[:4].any() and (result.pixel_array[4:] == image.pixel_array[4:]).all()
    assert "113101" in [item.CodeValue for item in result.DeidentificationMethodCodeSequence]
    ultrasound = copy.deepcopy(ct_series[1])
    ultrasound.Modality = "US"
    with pytest.raises(Excluded, match="ultrasound"):
        deidentify(ultrasound, keys=KEYS, patient=PATIENT, options=Options())


def test_a_compressed_image_with_a_blanking_rule_is_written_blanked_and_uncompressed(ct_series):
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    image = copy.deepcopy(ct_series[2])
    image.BurnedInAnnotation = "YES"
    image.Manufacturer, image.ManufacturerModelName = "Acme", "Scope 1"
    image.compress(RLELossless)
    rule = BlankingRule(manufacturer="ACME", model="scope 1", rectangles=((0, 28, 32, 32),))
    source = dcmread(io.BytesIO(_file_bytes(image)))
    result = deidentify(source, keys=KEYS, patient=PATIENT, options=Options(blanking_rules=(rule,)))
    written = dcmread(io.BytesIO(deidentified_bytes(result)))
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert not written.pixel_array[28:].any()
    assert (written.pixel_array[:28] == ct_series[2].pixel_array[:28]).all()


def test_a_phone_number_left_in_a_kept_attribute_stops_the_object(ct_series):
    image = copy.deepcopy(ct_series[0])
    image.ConvolutionKernel = "010-9876-5432"
    with pytest.raises(Excluded) as excluded:
        deidentify(image, keys=KEYS, patient=PATIENT, options=Options())
    assert excluded.value.code == "phi_found"
    assert "(0018,1210): phone_number" in excluded.value.detail
    assert "9876" not in excluded.value.detail


def test_descriptors_survive_only_when_made_of_allow_listed_words():
    assert clean_descriptor("CT Chest without contrast") == "CT Chest without contrast"
    assert clean_descriptor("Chest 1.0mm Lung") == "Chest 1.0mm Lung"
    assert clean_descriptor("흉부 CT 조영") == "흉부 CT 조영"
    assert clean_descriptor("Chest for Dr Kim") is None
    assert clean_descriptor("CT 12345678") is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("id 900101-1234568", True),  # valid check digit
        ("id 900101-1234567", True),  # no valid check digit, as issued since October 2020
        ("9001011234560", True),
        ("born 200229-3123456", True),  # 29 February 2020, a leap year (7th digit 3: 2000s)
        ("born 010229-3123456", False),  # 2001 had no 29 February
        ("born 000229-1123456", False),  # nor had 1900 (7th digit 1: 1900s)
        ("id 901301-1234568", False),  # no 13th month
        ("id 900132-1234568", False),  # no 32nd day
        ("id 900101-9234568", False),  # 9 and 0 name no living person's sex and century
        ("id 900101-0234568", False),
        ("foreigner 850615-5123456", True),
        ("serial 1900101-1234568", False),  # longer digit runs are not a number of this form
    ],
)
def test_every_well_formed_resident_registration_number_is_found_whatever_its_check_digit(text, found):
    assert ("resident_registration_number" in text_hits(text, [])) is found


def test_a_resident_registration_number_with_a_wrong_check_digit_stops_the_object(ct_series):
    image = copy.deepcopy(ct_series[0])
    image.ConvolutionKernel = "900101-1234567"
    with pytest.raises(Excluded) as excluded:
        deidentify(image, keys=KEYS, patient=PATIENT, options=Options())
    assert "(0018,1210): resident_registration_number" in excluded.value.detail
    assert not rrn_is_well_formed("901231", "9234567") and rrn_is_well_formed("901231", "2000000")


@pytest.mark.parametrize(
    "text", ["010-1234-5678", "01012345678", "010.1234.5678", "02-123-4567", "031 123 4567", "+82-10-1234-5678"]
)
def test_korean_phone_formats_are_found(text):
    assert text_hits(f"call {text} today", []) == ["phone_number"]


@pytest.mark.parametrize("text", ["1.2.840.10008.5.1.4.1.1.2", "120 kV 300 mAs", "512x512", "2024-01-15"])
def test_ordinary_numbers_are_not_taken_for_phones(text):
    assert text_hits(text, []) == []


def test_email_addresses_are_found():
    assert text_hits("mail kim.reader+ct@hospital.co.kr", []) == ["email"]


@pytest.mark.parametrize(
    "text", ["HONG^GILDONG", "Gildong Hong", "hong gildong", "홍길동", "홍 길동", "by 길동", "Hong,Gildong"]
)
def test_the_patients_own_name_is_found_in_any_of_its_forms(text):
    names = name_patterns(["Hong^Gildong=洪^吉洞=홍^길동"])
    assert text_hits(text, names) == ["patient_name"]


def test_a_name_inside_a_longer_word_or_another_family_name_is_not_a_hit():
    names = name_patterns(["Hong^Gildong=洪^吉洞=홍^길동"])
    assert text_hits("Hongkong flu", names) == [] and text_hits("김철수", names) == []


def test_scan_reports_the_tag_path_inside_sequences():
    dataset = Dataset()
    item = Dataset()
    item.CodeMeaning = "write to a@b.kr"
    dataset.ProcedureCodeSequence = [item]
    assert scan_for_phi(dataset, patient_names=[]) == ["(0008,1032)[0]/(0008,0104): email"]


def _series(count=8, spacing=2.0):
    datasets = []
    for index in range(count):
        dataset = Dataset()
        dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.ImagePositionPatient = [0, 0, -index * spacing]
        dataset.InstanceNumber = index + 1
        dataset.Rows = dataset.Columns = 4
        dataset.BitsAllocated, dataset.SamplesPerPixel = 16, 1
        dataset.PixelData = bytes(32)
        datasets.append(dataset)
    return datasets


def test_a_regular_series_has_no_problems(ct_series):
    assert series_problems(_series()) == []
    assert series_problems(ct_series) == []


def test_series_checks_name_each_problem():
    missing = _series()
    del missing[4]
    duplicate = _series()
    duplicate.append(duplicate[3])
    uneven = _series()
    uneven[5].ImagePositionPatient = [0, 0, -10.7]
    mixed = _series()
    mixed[2].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    scout = _series()
    scout[0].ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    broken = _series()
    broken[1].PixelData = bytes(7)
    assert series_problems(missing) == ["missing_slice"]
    assert series_problems(duplicate) == ["duplicate_slice"]
    assert series_problems(uneven) == ["uneven_spacing"]
    assert series_problems(mixed) == ["mixed_orientation"]
    assert series_problems(scout) == ["localizer"]
    assert series_problems(broken) == ["undecodable_pixels"]
