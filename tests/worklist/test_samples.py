"""Every file in ../shared/dicom-samples through the one ingest (and the decode check that
follows it): good files are stored, the broken ones in bad/ are refused with a reason code or
stored and flagged, nothing crashes, and after each file the index and the archive agree."""

import io
from pathlib import Path
from typing import NamedTuple

import pytest
from django.conf import settings
from pydicom import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.uid import generate_uid

from tests.conftest import samples_dir
from worklist import archive_files
from worklist.ingest import IngestResult, ingest
from worklist.models import Instance, Patient

pytestmark = pytest.mark.django_db


class Expected(NamedTuple):
    outcome: str  # "refused" or "flagged" (stored with a pixel_problem)
    detail: str  # the refusal code, or how the pixel_problem starts
    why: str


def refused(code: str, why: str) -> Expected:
    return Expected("refused", code, why)


def flagged(problem: str, why: str) -> Expected:
    return Expected("flagged", problem, why)


UNDECODABLE_JPEG = "JPEG data cannot be decoded: pylibjpeg: libjpeg error code '-1038'"
BROKEN_FILES = {
    "dwv_dwv-test_no-number-rows.dcm": refused("missing_uid", "no SOP Class UID (and no Rows)"),
    "nema-wg04_MR4_JPLY": flagged(UNDECODABLE_JPEG, "12-bit JPEG stream with a misplaced marker"),
    "nema-wg04_RG3_JPLY": flagged(UNDECODABLE_JPEG, "12-bit JPEG stream with a misplaced marker"),
    "orthanc_2026-05-06-Deeply-Nested-Sequence.dcm": refused("too_deep", "thousands of nested sequences"),
    "orthanc_2026-05-26-oob-monochrome-46341.dcm": refused("too_large", "claims 46341x46341 with 9 kB"),
    "orthanc_2026-05-26-oob-monochrome-65535.dcm": refused("too_large", "claims 65535x65535 with 256 bytes"),
    "pydicom-data_bad_sequence.dcm": refused("invalid_uid", "SOP Instance UID is a hex hash"),
    "pydicom-data_emri_small_jpeg_2k_lossless_too_short.dcm": refused(
        "truncated",
        "encapsulated Pixel Data cut short; pydicom keeps only the File Meta",
    ),
    "pydicom_JPEG-lossy.dcm": flagged(UNDECODABLE_JPEG, "JPEG stream with a misplaced marker"),
    "pydicom_JPEG2000-embedded-sequence-delimiter.dcm": flagged(
        "declared syntax does not match the data",
        "J2K header overwritten by a delimiter",
    ),
    "pydicom_MR_truncated.dcm": refused("truncated", "Pixel Data cut (8130 of 8192 bytes)"),
    "pydicom_badVR.dcm": flagged("Number of Frames '1A' is not a positive number", "IS value '1A'"),
    "pydicom_meta_missing_tsyntax.dcm": refused("no_transfer_syntax", "File Meta without Transfer Syntax"),
    "pydicom_no_meta.dcm": refused("not_dicom", "no File Meta and a stray leading byte"),
    "pydicom_rtplan_truncated.dcm": refused("truncated", "cut mid-element"),
    "pylibjpeg-data_JPEGLossless_1s_1f_i_16_16_bad.dcm": flagged(
        "CT values implausible",
        "decodes without error to values over the whole int16 range",
    ),
}

DICOMDIR = refused("dicomdir", "index of a file-set: its folder is imported instead")
NO_STUDY_UID = refused("missing_uid", "pydicom test file without a Study Instance UID")
NOT_DICOM = refused("not_dicom", "text or XML shipped beside the images")
REFUSED_ON_PURPOSE = {
    "README.md": NOT_DICOM,
    "PYPI-PACKAGES.md": NOT_DICOM,
    "chest-ct_lung-pet-ct-dx/LICENSE-TCIA.txt": NOT_DICOM,
    "pydicom/dicomdirtests/README.txt": NOT_DICOM,
    "pydicom/dicomdirtests/TINY_ALPHA/README": NOT_DICOM,
    "pydicom/JPEGLSNearLossless_16.dcm": NO_STUDY_UID,
    "pydicom/SC_rgb_jls_lossy_sample.dcm": NO_STUDY_UID,
    "pydicom/dicomdirtests/DICOMDIR": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-bigEnd": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-empty.dcm": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-implicit": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-nooffset": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-nopatient": DICOMDIR,
    "pydicom/dicomdirtests/DICOMDIR-reordered": DICOMDIR,
    "pydicom/dicomdirtests/TINY_ALPHA/DICOMDIR": DICOMDIR,
}
BOX_ANNOTATIONS = "chest-ct_lung-pet-ct-dx/Lung_Dx-A0001_annotations/"

CHARSET_NAMES = {
    "SCSI2": ("ISO 2022 IR 149", "Hong^Gildong=洪^吉洞=홍^길동"),
    "SCSH31": ("ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    "SCSX2": ("GB18030", "Wang^XiaoDong=王^小东"),
    "SCSARAB": ("ISO_IR 127", "قباني^لنزار"),
    "SCSGREEK": ("ISO_IR 126", "Διονυσιος"),
    "SCSRUSS": ("ISO_IR 144", "Люкceмбypг"),
}


def sample_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def expected_refusal(relative: str) -> Expected | None:
    if relative.startswith(BOX_ANNOTATIONS) and relative.endswith(".xml"):
        return NOT_DICOM
    return REFUSED_ON_PURPOSE.get(relative)


def ingest_and_check(data: bytes, site, capture_on_commit) -> IngestResult:
    """Ingest with the decode check run as after a commit, then check that no half-stored file
    is left: one row per archive file, nothing in the temporary folder."""
    with capture_on_commit(execute=True):
        result = ingest(data, site=site, source="test")
    root = Path(settings.STORAGE_DIR)
    assert Instance.objects.count() == len(list(root.glob("??/??/*.dcm")))
    assert not any((root / archive_files.TEMP_FOLDER).glob("*"))
    return result


def test_the_table_names_every_broken_file():
    assert sorted(path.name for path in sample_files(samples_dir() / "bad")) == sorted(BROKEN_FILES)


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_each_broken_file_is_refused_with_a_reason_or_stored_and_flagged(
    sites, django_capture_on_commit_callbacks, name
):
    expected = BROKEN_FILES[name]
    data = (samples_dir() / "bad" / name).read_bytes()
    result = ingest_and_check(data, sites["SUWON"], django_capture_on_commit_callbacks)
    if expected.outcome == "refused":
        assert (result.outcome, result.code) == ("refused", expected.detail), result.reason
        assert result.reason and result.dimse_status != 0 and result.http_status >= 400
        assert Instance.objects.count() == 0
    else:
        assert result.outcome == "stored", (result.code, result.reason)
        instance = Instance.objects.get(pk=result.instance_id)
        assert instance.pixels_checked
        assert instance.pixel_problem.startswith(expected.detail), instance.pixel_problem


def test_every_good_sample_is_stored_unless_refused_on_purpose(sites, django_capture_on_commit_callbacks, settings):
    root = samples_dir()
    files = [path for path in sample_files(root) if path.parent.name != "bad"]
    assert len(files) > 300
    stored: list[str] = []
    same_uid_other_bytes: list[Path] = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        result = ingest_and_check(path.read_bytes(), sites["SUWON"], django_capture_on_commit_callbacks)
        refusal = expected_refusal(relative)
        if refusal is not None:
            assert (result.outcome, result.code) == ("refused", refusal.detail), relative
        elif result.code == "conflict":
            # The same image in another transfer syntax (MR_small_*, emri_small_*, ...) keeps its
            # SOP Instance UID: the default policy keeps the first copy.
            assert Instance.objects.filter(sop_instance_uid=result.sop_instance_uid).exists()
            same_uid_other_bytes.append(path)
        else:
            assert result.outcome == "stored", (relative, result.code, result.reason)
            stored.append(relative)
    unflagged = Instance.objects.filter(pixel_problem="").count()
    assert (unflagged, Instance.objects.filter(pixels_checked=False).count()) == (
        len(stored),
        0,
    )
    assert 10 <= len(same_uid_other_bytes) <= 25

    # Each of those is storable in its own right: under the "replace" policy it replaces the first.
    settings.DUPLICATE_POLICY = "replace"
    for path in same_uid_other_bytes:
        result = ingest_and_check(path.read_bytes(), sites["SUWON"], django_capture_on_commit_callbacks)
        assert result.outcome == "stored", (path.name, result.code, result.reason)
        assert Instance.objects.get(pk=result.instance_id).pixel_problem == "", path.name


@pytest.mark.parametrize("name", sorted(CHARSET_NAMES))
def test_names_in_other_character_sets_decode_into_the_patient_row(sites, django_capture_on_commit_callbacks, name):
    character_set, patient_name = CHARSET_NAMES[name]
    data = (samples_dir() / "odd" / "charsets" / name).read_bytes()
    assert ingest_and_check(data, sites["SUWON"], django_capture_on_commit_callbacks).outcome == "stored"
    assert character_set in str(dcmread(io.BytesIO(data)).SpecificCharacterSet)
    assert Patient.objects.get().name == patient_name


def test_a_korean_name_in_utf8_decodes_into_the_patient_row(sites, django_capture_on_commit_callbacks):
    dataset = dcmread(samples_dir() / "odd" / "charsets" / "SCSI2")
    dataset.decode()
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.PatientName = "홍^길동"
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    assert "홍^길동".encode() in buffer.getvalue()

    result = ingest_and_check(buffer.getvalue(), sites["ICHEON"], django_capture_on_commit_callbacks)
    assert result.outcome == "stored"
    patient = Patient.objects.get()
    assert (patient.name, patient.display_name, patient.site.code) == (
        "홍^길동",
        "홍길동",
        "ICHEON",
    )
