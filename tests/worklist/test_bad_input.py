"""Battery B2-B12 on small objects built in memory: each bad input is refused with a reason code
or stored and flagged, nothing crashes, and nothing half-stored is left behind."""

import hashlib
import os
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import Tag

from dicomkit.pixel_check import decode_problem
from tests.worklist.tiny_datasets import (
    BASIC_TEXT_SR,
    ENCAPSULATED_PDF,
    KEY_OBJECT_SELECTION,
    PATIENT_NAME,
    SEGMENTATION,
    bare_dataset,
    ct_dataset,
    dicomdir_pointing_outside,
    encapsulated_ct,
    jpeg_header,
    nested_sequences,
    non_image,
    part10,
    zip_of,
    zip_with_overlapping_entries,
)
from worklist import archive_files
from worklist.ingest import ingest
from worklist.models import Instance, Patient, Study
from worklist.safe_zip import CheckedZip, ZipLimits, ZipRefused

pytestmark = pytest.mark.django_db

PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00"
PDF_FILE = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
SMALL_LIMITS = ZipLimits(max_entries=10, max_member_bytes=1 << 20, max_total_bytes=4 << 20)


def archive_contents() -> list[str]:
    root = Path(settings.STORAGE_DIR)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def assert_nothing_stored() -> None:
    assert Instance.objects.count() == 0
    assert archive_contents() == []


def store(data: bytes, sites) -> Instance:
    result = ingest(data, site=sites["SUWON"], source="test")
    assert result.outcome == "stored", (result.code, result.reason)
    return Instance.objects.get(pk=result.instance_id)


# --- B2: not DICOM -------------------------------------------------------------------------


def test_an_empty_file_is_refused(sites):
    result = ingest(b"", site=sites["SUWON"], source="test")
    assert (result.outcome, result.code, result.http_status) == (
        "refused",
        "empty",
        400,
    )
    assert_nothing_stored()


@pytest.mark.parametrize(
    "data",
    [PDF_FILE, zip_of({"a.txt": b"hello"}), PE_HEADER + bytes(200)],
    ids=["pdf", "zip", "windows-executable"],
)
def test_files_that_are_not_dicom_are_refused_as_unsupported_media(sites, data):
    result = ingest(data, site=sites["SUWON"], source="test")
    assert (result.outcome, result.code, result.http_status, result.dimse_status) == (
        "refused",
        "not_dicom",
        415,
        0xC000,
    )
    assert_nothing_stored()


def test_a_part10_file_with_its_preamble_cut_off_is_refused(sites):
    data = part10(ct_dataset())[128:]  # starts with "DICM"
    assert ingest(data, site=sites["SUWON"], source="test").code == "not_dicom"
    assert_nothing_stored()


def test_a_bare_dataset_as_c_store_sends_it_is_stored_as_part10_with_a_zero_preamble(
    sites,
):
    instance = store(bare_dataset(ct_dataset()), sites)
    stored = archive_files.path_of(instance.file_key).read_bytes()
    assert stored[:128] == bytes(128) and stored[128:132] == b"DICM"
    assert "had no File Meta Information; one was written" in instance.index_warnings


# --- B3: cut files -----------------------------------------------------------------------------


def test_a_file_cut_inside_an_element_is_refused_though_pydicom_reads_it(sites):
    data = part10(ct_dataset())
    name = data.index(PATIENT_NAME.encode())
    result = ingest(data[: name + 5], site=sites["SUWON"], source="test")
    assert (result.code, result.dimse_status, result.http_status) == (
        "truncated",
        0xC000,
        400,
    )
    assert_nothing_stored()


def test_a_file_cut_inside_an_element_header_is_refused(sites):
    data = part10(ct_dataset())
    pixel_data_header = data.rindex(b"\xe0\x7f\x10\x00")
    result = ingest(data[: pixel_data_header + 6], site=sites["SUWON"], source="test")
    assert (result.code, result.reason) == (
        "truncated",
        "file ends inside an element header",
    )
    assert_nothing_stored()


def test_a_file_cut_inside_native_pixel_data_is_refused(sites):
    data = part10(ct_dataset(rows=16, columns=16))
    result = ingest(data[:-100], site=sites["SUWON"], source="test")
    assert (result.code, result.reason) == (
        "truncated",
        "file ends inside element (7FE0,0010)",
    )
    assert_nothing_stored()


def test_a_file_cut_inside_encapsulated_pixel_data_is_refused(sites):
    data = encapsulated_ct(rows=8, columns=8, fragment=jpeg_header(width=8, height=8) + bytes(64))
    assert ingest(data[:-20], site=sites["SUWON"], source="test").code == "truncated"
    assert_nothing_stored()


# --- B10: identifiers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword",
    ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"],
)
def test_an_object_without_a_required_uid_is_refused(sites, keyword):
    dataset = ct_dataset()
    delattr(dataset, keyword)
    data = bare_dataset(dataset)  # File Meta would repeat the SOP UIDs
    result = ingest(data, site=sites["SUWON"], source="test")
    assert (result.code, result.reason) == ("missing_uid", f"{keyword} is missing")
    assert_nothing_stored()


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
@pytest.mark.parametrize(
    "value, code",
    [
        ("../../etc/x", "invalid_uid"),
        ("1." + "2" * 68, "invalid_uid"),
        ("1.2/../3", "invalid_uid"),
        ("1.2.03a", "invalid_uid"),
        ("", "missing_uid"),
    ],
    ids=["traversal", "70-characters", "slash-dot-dot", "letters", "empty"],
)
def test_uids_that_are_not_uids_are_refused_and_never_become_paths(sites, tmp_path, keyword, value, code):
    dataset = ct_dataset()
    dataset[keyword] = DataElement(dataset.data_element(keyword).tag, "UI", value)
    result = ingest(bare_dataset(dataset), site=sites["SUWON"], source="test")
    assert (result.outcome, result.code) == ("refused", code)
    assert_nothing_stored()
    assert not (tmp_path / "etc").exists() and not (Path(settings.STORAGE_DIR).parent / "etc").exists()


def test_the_archive_key_is_the_content_digest_not_a_dataset_value(sites):
    dataset = ct_dataset()
    instance = store(part10(dataset), sites)
    stored = archive_files.path_of(instance.file_key).read_bytes()
    digest = hashlib.sha256(stored).hexdigest()
    assert instance.file_key == archive_files.key_for(digest) == f"{digest[:2]}/{digest[2:4]}/{digest}.dcm"
    assert archive_contents() == [instance.file_key]
    for value in (dataset.SOPInstanceUID, dataset.StudyInstanceUID, dataset.PatientID):
        assert value not in instance.file_key


# --- B4: polyglot --------------------------------------------------------------------------


def test_an_executable_hidden_in_the_preamble_is_zeroed_in_the_stored_file(sites):
    data = part10(ct_dataset(), preamble=PE_HEADER.ljust(128, b"\x00"))
    instance = store(data, sites)
    stored = archive_files.path_of(instance.file_key).read_bytes()
    assert stored[:128] == bytes(128)
    assert stored[128:] == data[128:]
    assert b"MZ" not in stored[:2]


# --- B5 / B8: pixel data -------------------------------------------------------------------


def test_absurd_native_dimensions_are_refused_before_any_decode(sites):
    dataset = ct_dataset(pixel_bytes=bytes(32))
    dataset.Rows = dataset.Columns = 65535
    result = ingest(part10(dataset), site=sites["SUWON"], source="test")
    assert (result.code, result.dimse_status, result.http_status) == (
        "too_large",
        0xA700,
        413,
    )
    assert_nothing_stored()


def test_absurd_encapsulated_dimensions_are_refused_before_any_decode(sites):
    data = encapsulated_ct(rows=65535, columns=65535, fragment=jpeg_header(width=65535, height=65535))
    assert ingest(data, site=sites["SUWON"], source="test").code == "too_large"
    assert_nothing_stored()


def test_a_codestream_larger_than_its_dataset_says_is_flagged_without_decoding(
    monkeypatch,
):
    data = encapsulated_ct(rows=8, columns=8, fragment=jpeg_header(width=65535, height=65535))

    def no_decoding(*args, **kwargs):
        raise AssertionError("the codec must not see a codestream bigger than the dataset")

    monkeypatch.setattr("dicomkit.pixel_check.pixel_array", no_decoding)
    problem = decode_problem(data)
    assert problem.startswith("declared syntax does not match the data: the JPEG header says 65535x65535")


def test_pixel_data_in_another_syntax_than_declared_is_flagged():
    data = encapsulated_ct(rows=8, columns=8, fragment=b"\xff\x4f\xff\x51" + bytes(60))
    assert decode_problem(data) == (
        "declared syntax does not match the data: JPEG declared but the frame does not start with a JPEG marker"
    )


def test_short_pixel_data_is_stored_and_flagged_at_ingest(sites):
    instance = store(part10(ct_dataset(rows=8, columns=8, pixel_bytes=bytes(100))), sites)
    assert instance.pixel_problem == "Pixel Data is 100 bytes, 128 expected for 8x8x1"
    assert instance.pixels_checked


def test_long_pixel_data_is_stored_and_flagged_by_the_decode_check(sites, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = ingest(
            part10(ct_dataset(rows=8, columns=8, pixel_bytes=bytes(200))),
            site=sites["SUWON"],
            source="t",
        )
    assert result.outcome == "stored" and callbacks
    instance = Instance.objects.get(pk=result.instance_id)
    assert instance.pixels_checked
    assert instance.pixel_problem == "Pixel Data is 200 bytes, 128 expected for 8x8x1 (extra data)"


def test_odd_length_pixel_data_with_its_padding_byte_is_fine(sites, django_capture_on_commit_callbacks):
    dataset = ct_dataset(rows=3, columns=3, pixel_bytes=bytes(9))
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(part10(dataset), site=sites["SUWON"], source="test")
    instance = Instance.objects.get(pk=result.instance_id)
    assert (instance.pixels_checked, instance.pixel_problem) == (True, "")


# --- B7: deep nesting ----------------------------------------------------------------------


def test_nine_hundred_nested_sequences_are_refused_without_a_recursion_error(sites):
    result = ingest(nested_sequences(900), site=sites["SUWON"], source="test")
    assert (result.outcome, result.code, result.dimse_status) == (
        "refused",
        "too_deep",
        0xC000,
    )
    assert_nothing_stored()


def test_a_few_nested_sequences_are_fine(sites):
    store(nested_sequences(8), sites)


# --- B9: wrong values ----------------------------------------------------------------------


def test_bad_values_are_stored_with_an_empty_index_field_and_a_warning(sites):
    dataset = ct_dataset()
    for tag, vr, value in [
        (0x00080020, "DA", b"20231345"),  # Study Date
        (0x00100030, "DA", b"19AB0101"),  # Patient's Birth Date
        (0x00200013, "IS", b"1A"),  # Instance Number
        (0x00180050, "DS", b"thick "),  # Slice Thickness
        (0x00201041, "LO", b"not a number"),  # Slice Location, with a wrong VR
        (
            0x00080080,
            "LO",
            b"Hospital " * 12,
        ),  # Institution Name, longer than LO allows
    ]:
        # Raw, as a modality writes them: pydicom refuses to build these values itself.
        dataset[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    instance = store(part10(dataset), sites)
    study = Study.objects.get()
    patient = Patient.objects.get()
    assert study.study_date is None and patient.birth_date is None
    assert instance.instance_number is None
    assert instance.slice_thickness is None and instance.slice_location is None
    assert study.institution_name.startswith("Hospital")
    warnings = " ".join(instance.index_warnings)
    for keyword in (
        "StudyDate",
        "PatientBirthDate",
        "InstanceNumber",
        "SliceThickness",
        "SliceLocation",
    ):
        assert keyword in warnings


# --- B12: objects that are not images ------------------------------------------------------


@pytest.mark.parametrize(
    "sop_class, has_pixels",
    [
        (BASIC_TEXT_SR, False),
        (ENCAPSULATED_PDF, False),
        (KEY_OBJECT_SELECTION, False),
        (SEGMENTATION, True),
    ],
    ids=["sr", "pdf", "kos", "seg"],
)
def test_non_image_objects_are_stored_and_indexed(sites, sop_class, has_pixels):
    instance = store(part10(non_image(sop_class)), sites)
    assert instance.sop_class_uid == sop_class
    # A SEG carries Pixel Data (its segment frames), so it is decode-checked; the viewer tells it
    # apart by SOP Class. SR, PDF and KOS have nothing to decode.
    assert instance.has_pixels is has_pixels
    assert instance.pixels_checked is not has_pixels
    assert Study.objects.get().instance_count == 1


# --- B11: archives and file-sets -----------------------------------------------------------


def test_a_dicomdir_is_refused_and_its_paths_are_never_followed(sites):
    result = ingest(dicomdir_pointing_outside(), site=sites["SUWON"], source="test")
    assert (result.outcome, result.code) == ("refused", "dicomdir")
    assert_nothing_stored()


def forbid_extraction(monkeypatch) -> None:
    """Fail the test if any ZIP member is opened from here on."""

    def refuse_open(self, *args, **kwargs):
        raise AssertionError("a member was extracted before the archive was checked")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse_open)


@pytest.mark.parametrize(
    "entries, symlinks, code",
    [
        ({"ok.dcm": b"x", "../../evil.dcm": b"x"}, (), "zip_path_traversal"),
        ({"a/../../evil.dcm": b"x"}, (), "zip_path_traversal"),
        ({"..\\evil.dcm": b"x"}, (), "zip_path_traversal"),
        ({"/etc/passwd": b"x"}, (), "zip_absolute_path"),
        ({"C:\\Windows\\evil.dcm": b"x"}, (), "zip_absolute_path"),
        ({"link.dcm": b"/etc/passwd"}, ("link.dcm",), "zip_symlink"),
        ({f"{index}.dcm": b"x" for index in range(11)}, (), "zip_too_many_entries"),
        ({"zeros.dcm": bytes(4 << 20)}, (), "zip_bomb"),
        ({f"{index}.dcm": os.urandom(900_000) for index in range(5)}, (), "zip_bomb"),
    ],
    ids=[
        "dot-dot",
        "dot-dot-inside",
        "backslash-dot-dot",
        "absolute",
        "drive-letter",
        "symlink",
        "too-many-entries",
        "compression-ratio",
        "total-inflated-size",
    ],
)
def test_unsafe_zip_archives_are_refused_before_anything_is_extracted(monkeypatch, entries, symlinks, code):
    archive = zip_of(entries, symlinks=symlinks)
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRefused) as refusal:
        CheckedZip(archive, SMALL_LIMITS)
    assert refusal.value.code == code


def test_overlapping_zip_entries_are_refused_as_a_bomb(monkeypatch):
    archive = zip_with_overlapping_entries("a.dcm", os.urandom(20_000), copies=5)
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRefused) as refusal:
        CheckedZip(archive, SMALL_LIMITS)
    assert refusal.value.code == "zip_bomb"


def test_a_zip_inside_a_zip_is_read_but_one_level_deeper_is_refused():
    dicom = part10(ct_dataset())
    inner = zip_of({"image.dcm": dicom})
    members = list(CheckedZip(zip_of({"inner.zip": inner, "top.dcm": dicom}), SMALL_LIMITS).members())
    assert [(member.name, member.data == dicom) for member in members] == [
        ("inner.zip!image.dcm", True),
        ("top.dcm", True),
    ]
    with pytest.raises(ZipRefused) as refusal:
        CheckedZip(zip_of({"outer.zip": zip_of({"inner.zip": inner})}), SMALL_LIMITS)
    assert refusal.value.code == "zip_nested"


def test_zip_members_are_read_into_memory_and_never_written_under_their_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = zip_of({"evil name.dcm": b"data", "folder/x.dcm": b"more"})
    members = list(CheckedZip(archive, SMALL_LIMITS).members())
    assert [(member.name, member.data) for member in members] == [
        ("evil name.dcm", b"data"),
        ("folder/x.dcm", b"more"),
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_deflate_bomb_is_refused_before_pydicom_inflates_it(sites, settings, monkeypatch):
    import zlib

    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from dicomkit import header

    dataset = ct_dataset(rows=8, columns=8, pixel_bytes=bytes(128))
    genuine = part10(dataset, transfer_syntax=DeflatedExplicitVRLittleEndian)
    meta_end = 132 + 12 + int.from_bytes(genuine[140:144], "little")
    # 50 MB of zeros deflate to about 50 KB.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = genuine[:meta_end] + compressor.compress(bytes(50 << 20)) + compressor.flush()
    assert len(bomb) < 100_000
    settings.MAX_PIXEL_BYTES = 1 << 20
    monkeypatch.setattr(header, "DEFLATED_HEADER_ALLOWANCE", 0)
    result = ingest(bomb, site=sites["SUWON"], source="t")
    assert (result.outcome, result.code) == ("refused", "too_large")
    assert not Instance.objects.exists()


def test_a_genuine_deflated_file_is_stored(sites):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    dataset = ct_dataset(rows=8, columns=8, pixel_bytes=bytes(128))
    assert (
        ingest(part10(dataset, transfer_syntax=DeflatedExplicitVRLittleEndian), site=sites["SUWON"], source="t").outcome
        == "stored"
    )
