"""Read one DICOM object from bytes, check that it is whole and sane, and extract what the archive
indexes. pydicom reads a truncated element silently with a shorter value, so the lengths are
checked here; sequences are walked with a depth limit so deep nesting is a refusal, not a crash."""

import datetime as dt
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pydicom.valuerep import DA, TM

from dicomkit.errors import DicomRejected

DEFLATED_SYNTAX = b"1.2.840.10008.1.2.1.99"
DEFLATED_HEADER_ALLOWANCE = 64 << 20  # header elements beside the pixels (overlays, private data)
INFLATE_STEP = 16 << 20
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MAX_SEQUENCE_DEPTH = 32
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
ZERO_PREAMBLE = bytes(128)
CUT_BEFORE_DELIMITER = "End of file reached before delimiter"
IMAGE_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float, Double Float
# Non-image objects (SR, SEG, PDF, KOS) need only these; images need the image pixel module too.
REQUIRED_UIDS = {
    "SOPClassUID": 0x00080016,
    "SOPInstanceUID": 0x00080018,
    "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E,
}


def is_valid_uid(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and UID_PATTERN.match(value) is not None


@dataclass
class ParsedInstance:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    part10: bytes  # what the archive stores: Part 10, preamble zeroed
    index: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    pixel_problem: str = ""
    has_pixels: bool = False
    dataset: Dataset | None = None


def parse_instance(data: bytes, *, max_pixel_bytes: int) -> ParsedInstance:
    """Parse and validate one object; raise DicomRejected with the reason if it cannot be stored."""
    if len(data) == 0:
        raise DicomRejected("empty", "the file is empty", http_status=400)
    has_prefix = len(data) >= 132 and data[128:132] == b"DICM"
    if not has_prefix and not _looks_like_bare_dataset(data):
        raise DicomRejected("not_dicom", "not a DICOM file (no DICM prefix and no dataset header)", http_status=415)
    if has_prefix:
        _check_deflated_size(data, limit=max_pixel_bytes + DEFLATED_HEADER_ALLOWANCE)
    notes: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = dcmread(io.BytesIO(data), force=not has_prefix)
            if any(str(w.message).startswith(CUT_BEFORE_DELIMITER) for w in caught):
                # pydicom drops the whole dataset and only warns when the file ends inside an
                # undefined-length sequence or the encapsulated Pixel Data.
                raise DicomRejected("truncated", "file ends inside a sequence or the encapsulated Pixel Data")
            _check_lengths(dataset, len(data))
            _walk(dataset, depth=0, notes=notes)
        notes.extend(str(w.message)[:200] for w in caught)
    except DicomRejected:
        raise
    except RecursionError:
        raise DicomRejected("too_deep", "sequences nested too deeply to read") from None
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OverflowError, struct.error) as exc:
        raise DicomRejected("unreadable", f"unreadable DICOM: {_short(exc)}") from None

    meta = getattr(dataset, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY:
        raise DicomRejected("dicomdir", "a DICOMDIR (index of a file-set), not an image: import its folder instead")
    transfer_syntax = _transfer_syntax(dataset, has_prefix)
    uids = {}
    for keyword, tag in REQUIRED_UIDS.items():
        value = _text(dataset, tag)
        if not value:
            raise DicomRejected("missing_uid", f"{keyword} is missing")
        if not is_valid_uid(value):
            raise DicomRejected("invalid_uid", f"{keyword} is not a valid UID")
        uids[keyword] = value

    meta_sop = getattr(dataset, "file_meta", None) and dataset.file_meta.get("MediaStorageSOPInstanceUID")
    if meta_sop and meta_sop != uids["SOPInstanceUID"]:
        notes.append("File Meta MediaStorageSOPInstanceUID differs from SOPInstanceUID")

    has_pixels = any(tag in dataset for tag in IMAGE_PIXEL_TAGS)
    pixel_problem = _check_pixels(dataset, max_pixel_bytes) if has_pixels else ""

    if has_prefix:
        # A preamble can hide an executable (CVE-2019-11687): zero it, without copying the
        # bytes when it already is zero (the C-STORE listener writes it so).
        part10 = data if data[:128] == ZERO_PREAMBLE else ZERO_PREAMBLE + data[128:]
    else:
        part10 = _as_part10(dataset, uids, transfer_syntax)
        notes.append("had no File Meta Information; one was written")

    return ParsedInstance(
        sop_class_uid=uids["SOPClassUID"],
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=transfer_syntax,
        part10=part10,
        index=index_fields(dataset, notes),
        warnings=notes,
        pixel_problem=pixel_problem,
        has_pixels=has_pixels,
        dataset=dataset,
    )


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:200]


def _check_deflated_size(data: bytes, *, limit: int) -> None:
    """pydicom inflates a Deflated Explicit VR Little Endian dataset whole in memory (a 400 KB file
    took 800 MB): inflate it here first, in bounded steps, and refuse one that grows past the limit."""
    meta_start = 132
    if data[meta_start : meta_start + 4] != b"\x02\x00\x00\x00" or len(data) < meta_start + 12:
        return  # no group length: pydicom reads the meta element by element; too odd to be deflated
    meta_end = meta_start + 12 + int.from_bytes(data[meta_start + 8 : meta_start + 12], "little")
    if DEFLATED_SYNTAX not in data[meta_start:meta_end]:
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = 0
    pending = data[meta_end:]
    try:
        while pending:
            inflated += len(inflater.decompress(pending, INFLATE_STEP))
            if inflated > limit:
                raise DicomRejected(
                    "too_large", f"deflated dataset inflates past {limit} bytes", dimse_status=0xA700, http_status=413
                )
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise DicomRejected("unreadable", f"deflated dataset is corrupt: {exc}") from None


def _looks_like_bare_dataset(data: bytes) -> bool:
    # A dataset without File Meta starts with a group 0x0008 element in little endian.
    return len(data) >= 8 and data[0:2] == b"\x08\x00"


def _transfer_syntax(dataset: Dataset, has_prefix: bool) -> str:
    meta = getattr(dataset, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    if has_prefix and not value:
        raise DicomRejected("no_transfer_syntax", "File Meta Information has no Transfer Syntax UID")
    if not value:
        return ImplicitVRLittleEndian if dataset.is_implicit_VR else ExplicitVRLittleEndian
    if not is_valid_uid(str(value)):
        raise DicomRejected("invalid_uid", "Transfer Syntax UID is not a valid UID")
    return str(value)


def _check_lengths(dataset: Dataset, file_length: int) -> None:
    """A value shorter than its declared length means the file was cut."""
    for element in dataset._dict.values():
        if not isinstance(element, RawDataElement):
            continue
        if element.length == UNDEFINED_LENGTH:
            if element.tag == PIXEL_DATA and not _ends_encapsulated(element.value):
                raise DicomRejected("truncated", "file ends inside the encapsulated Pixel Data")
            continue
        actual = len(element.value) if element.value is not None else 0
        if actual < element.length:
            raise DicomRejected(
                "truncated", f"file ends inside element ({element.tag >> 16:04X},{element.tag & 0xFFFF:04X})"
            )
    # A cut inside an element's header leaves a few bytes pydicom skips without a word.
    last = next(reversed(dataset._dict.values()), None)
    meta = getattr(dataset, "file_meta", None)
    deflated = meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    if isinstance(last, RawDataElement) and not deflated:
        value_length = len(last.value or b"") + 8 if last.length == UNDEFINED_LENGTH else last.length
        if last.value_tell + value_length < file_length:
            raise DicomRejected("truncated", "file ends inside an element header")


def _ends_encapsulated(value: bytes | None) -> bool:
    # pydicom strips the final delimiter; a cut file leaves a fragment shorter than its item length.
    if not value:
        return False
    offset = 0
    while offset + 8 <= len(value):
        tag = value[offset : offset + 4]
        length = int.from_bytes(value[offset + 4 : offset + 8], "little")
        if tag != b"\xfe\xff\x00\xe0":
            return tag == b"\xfe\xff\xdd\xe0"
        offset += 8 + length
    return offset == len(value)


def _walk(dataset: Dataset, *, depth: int, notes: list[str]) -> None:
    if depth > MAX_SEQUENCE_DEPTH:
        raise DicomRejected("too_deep", f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")
    for tag in list(dataset.keys()):
        raw = dataset._dict.get(tag)
        if isinstance(raw, RawDataElement) and raw.VR not in (None, "SQ", "UN") and tag != PIXEL_DATA:
            continue  # only sequences need opening; plain values are read when indexed
        if tag == PIXEL_DATA:
            continue
        try:
            element = dataset[tag]
        except DicomRejected:
            raise
        except RecursionError:
            raise
        except Exception as exc:  # a single bad element is a warning, not a refusal
            notes.append(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) unreadable: {_short(exc)}")
            continue
        if element.VR == "SQ":
            for item in element.value or []:
                _walk(item, depth=depth + 1, notes=notes)


def _check_pixels(dataset: Dataset, max_pixel_bytes: int) -> str:
    """Return why the pixels cannot be shown, or ''. Refuse sizes that would exhaust memory."""
    rows = _int(dataset, 0x00280010)
    columns = _int(dataset, 0x00280011)
    bits = _int(dataset, 0x00280100)
    samples = _int(dataset, 0x00280002) or 1
    frames = _int(dataset, 0x00280008) or 1
    if not rows or not columns:
        return "Rows or Columns missing or zero"
    if not bits or bits % 8 and bits != 1:
        return f"Bits Allocated {bits} is not supported"
    declared = rows * columns * frames * samples * max(bits, 8) // 8
    if declared > max_pixel_bytes:
        raise DicomRejected(
            "too_large",
            f"image of {rows}x{columns}x{frames} would decode to {declared} bytes (limit {max_pixel_bytes})",
            dimse_status=0xA700,
            http_status=413,
        )
    raw = dataset._dict.get(PIXEL_DATA)
    if raw is None:
        return ""
    if isinstance(raw, RawDataElement):
        encapsulated = raw.length == UNDEFINED_LENGTH
        length = len(raw.value) if raw.value is not None else 0
    else:
        encapsulated = dataset.file_meta.TransferSyntaxUID.is_compressed if hasattr(dataset, "file_meta") else False
        length = len(raw.value or b"")
    if encapsulated:
        return "" if length > 8 else "encapsulated Pixel Data holds no fragments"
    expected = (rows * columns * frames * samples * bits + 7) // 8
    if length < expected:
        return f"Pixel Data is {length} bytes, {expected} expected for {rows}x{columns}x{frames}"
    return ""


def _int(dataset: Dataset, tag: int) -> int | None:
    try:
        value = dataset[tag].value if tag in dataset else None
        if value in (None, ""):
            return None
        if isinstance(value, (list, tuple)) or hasattr(value, "__getitem__") and not isinstance(value, str):
            value = value[0]
        return int(value)
    except Exception:
        return None


def _text(dataset: Dataset, tag: int) -> str:
    try:
        if tag not in dataset:
            return ""
        value = dataset[tag].value
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return str(value).strip().rstrip("\x00").strip()


def _as_part10(dataset: Dataset, uids: dict[str, str], transfer_syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uids["SOPClassUID"]
    meta.MediaStorageSOPInstanceUID = uids["SOPInstanceUID"]
    meta.TransferSyntaxUID = UID(transfer_syntax)
    dataset.file_meta = meta
    out = io.BytesIO()
    dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def _date(dataset: Dataset, keyword: str, notes: list[str]) -> dt.date | None:
    value = _text_kw(dataset, keyword)
    if not value:
        return None
    try:
        parsed = DA(value)
        return dt.date(parsed.year, parsed.month, parsed.day) if parsed else None
    except (ValueError, TypeError):
        notes.append(f"{keyword} {value[:20]!r} is not a date")
        return None


def _time(dataset: Dataset, keyword: str, notes: list[str]) -> dt.time | None:
    value = _text_kw(dataset, keyword)
    if not value:
        return None
    try:
        parsed = TM(value)
        return dt.time(parsed.hour, parsed.minute, parsed.second) if parsed else None
    except (ValueError, TypeError):
        notes.append(f"{keyword} {value[:20]!r} is not a time")
        return None


def _text_kw(dataset: Dataset, keyword: str, max_length: int = 0) -> str:
    try:
        value = dataset.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    text = str(value).strip()
    return text[:max_length] if max_length else text


def _floats(dataset: Dataset, keyword: str, count: int, notes: list[str]) -> list[float] | None:
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return None
        values = [float(v) for v in (value if hasattr(value, "__iter__") and not isinstance(value, str) else [value])]
    except Exception:
        notes.append(f"{keyword} is not numeric")
        return None
    if len(values) != count:
        notes.append(f"{keyword} has {len(values)} values, {count} expected")
        return None
    return values


def _number(dataset: Dataset, keyword: str, notes: list[str], kind: type = int) -> Any:
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return None
        if hasattr(value, "__iter__") and not isinstance(value, str):
            value = list(value)[0]
        return kind(value)
    except Exception:
        notes.append(f"{keyword} is not a number")
        return None


def index_fields(dataset: Dataset, notes: list[str]) -> dict[str, Any]:
    """What the archive indexes. A bad value becomes None with a warning, never a refusal."""
    patient_name = ""
    try:
        name = dataset.get("PatientName")
        patient_name = str(name) if name is not None else ""
    except Exception as exc:
        notes.append(f"PatientName undecodable: {_short(exc)}")
    return {
        "patient_id": _text_kw(dataset, "PatientID", 64),
        "patient_name": patient_name[:200],
        "patient_birth_date": _date(dataset, "PatientBirthDate", notes),
        "patient_sex": _text_kw(dataset, "PatientSex", 16)[:1],
        "patient_age": _text_kw(dataset, "PatientAge", 4),
        "study_date": _date(dataset, "StudyDate", notes),
        "study_time": _time(dataset, "StudyTime", notes),
        "accession_number": _text_kw(dataset, "AccessionNumber", 64),
        "study_id": _text_kw(dataset, "StudyID", 16),
        "study_description": _text_kw(dataset, "StudyDescription", 200),
        "referring_physician": _text_kw(dataset, "ReferringPhysicianName", 200),
        "institution_name": _text_kw(dataset, "InstitutionName", 200),
        "modality": _text_kw(dataset, "Modality", 16),
        "series_number": _number(dataset, "SeriesNumber", notes),
        "series_description": _text_kw(dataset, "SeriesDescription", 200),
        "series_date": _date(dataset, "SeriesDate", notes),
        "series_time": _time(dataset, "SeriesTime", notes),
        "body_part": _text_kw(dataset, "BodyPartExamined", 64),
        "frame_of_reference_uid": _uid_or_blank(_text_kw(dataset, "FrameOfReferenceUID")),
        "laterality": _text_kw(dataset, "ImageLaterality", 2) or _text_kw(dataset, "Laterality", 2),
        "view_position": _text_kw(dataset, "ViewPosition", 16),
        "instance_number": _number(dataset, "InstanceNumber", notes),
        "image_position": _floats(dataset, "ImagePositionPatient", 3, notes),
        "image_orientation": _floats(dataset, "ImageOrientationPatient", 6, notes),
        "slice_location": _number(dataset, "SliceLocation", notes, float),
        "slice_thickness": _number(dataset, "SliceThickness", notes, float),
        "pixel_spacing": _floats(dataset, "PixelSpacing", 2, notes) or _floats(dataset, "ImagerPixelSpacing", 2, notes),
        "rows": _number(dataset, "Rows", notes),
        "columns": _number(dataset, "Columns", notes),
        "number_of_frames": _number(dataset, "NumberOfFrames", notes) or 1,
        "samples_per_pixel": _number(dataset, "SamplesPerPixel", notes),
        "photometric_interpretation": _text_kw(dataset, "PhotometricInterpretation", 16),
        "bits_allocated": _number(dataset, "BitsAllocated", notes),
        "bits_stored": _number(dataset, "BitsStored", notes),
        "pixel_representation": _number(dataset, "PixelRepresentation", notes),
        "rescale_slope": _number(dataset, "RescaleSlope", notes, float),
        "rescale_intercept": _number(dataset, "RescaleIntercept", notes, float),
        "window_center": _number(dataset, "WindowCenter", notes, float),
        "window_width": _number(dataset, "WindowWidth", notes, float),
        "burned_in_annotation": _text_kw(dataset, "BurnedInAnnotation", 3),
        "requested_priority": _text_kw(dataset, "RequestedProcedurePriority", 16)
        or _text_kw(dataset, "PerformedProcedureStepPriority", 16),
    }


def _uid_or_blank(value: str) -> str:
    return value if is_valid_uid(value) else ""
