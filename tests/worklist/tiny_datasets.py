"""Small DICOM objects built in memory for the ingest tests: a 4x4 CT slice and its variants,
non-image objects, raw byte surgery for what pydicom refuses to write, and ZIP archives."""

import io
import stat
import zipfile

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
PATIENT_NAME = "Hong^Gildong^^^"


def base_dataset(sop_class_uid: str = CT_IMAGE, *, study_uid: str = "", series_uid: str = "") -> Dataset:
    dataset = Dataset()
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.SOPClassUID = sop_class_uid
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyDate = "20240102"
    dataset.StudyTime = "101500"
    dataset.AccessionNumber = "A-1"
    dataset.Modality = "CT"
    dataset.PatientName = PATIENT_NAME
    dataset.PatientID = "P-0001"
    dataset.PatientBirthDate = "19700101"
    dataset.PatientSex = "M"
    dataset.StudyInstanceUID = study_uid or generate_uid()
    dataset.SeriesInstanceUID = series_uid or generate_uid()
    dataset.StudyID = "1"
    dataset.SeriesNumber = 1
    dataset.InstanceNumber = 1
    return dataset


def ct_dataset(*, rows: int = 4, columns: int = 4, pixel_bytes: bytes | None = None, **uids: str) -> Dataset:
    dataset = base_dataset(**uids)
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows = rows
    dataset.Columns = columns
    dataset.BitsAllocated = 16
    dataset.BitsStored = 12
    dataset.HighBit = 11
    dataset.PixelRepresentation = 0
    dataset.RescaleIntercept = -1024
    dataset.RescaleSlope = 1
    dataset.PixelData = (
        bytes(index % 256 for index in range(2 * rows * columns)) if pixel_bytes is None else pixel_bytes
    )
    return dataset


def part10(
    dataset: Dataset,
    *,
    transfer_syntax: str = ExplicitVRLittleEndian,
    preamble: bytes = bytes(128),
) -> bytes:
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = transfer_syntax
    dataset.preamble = preamble
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def bare_dataset(dataset: Dataset) -> bytes:
    """The dataset alone, as a C-STORE carries it: no preamble, no File Meta."""
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def encapsulated_ct(*, rows: int, columns: int, fragment: bytes) -> bytes:
    dataset = ct_dataset(rows=rows, columns=columns, pixel_bytes=b"")
    dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.BitsAllocated = 8
    fragment += b"\x00" * (len(fragment) % 2)  # items have even lengths
    item = b"\xfe\xff\x00\xe0" + len(fragment).to_bytes(4, "little") + fragment
    # An empty offset table and one fragment; pydicom writes the closing delimiter.
    dataset.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + item
    dataset["PixelData"].VR = "OB"
    dataset["PixelData"].is_undefined_length = True
    return part10(dataset, transfer_syntax=JPEGBaseline8Bit)


def jpeg_header(*, width: int, height: int) -> bytes:
    """The start of a baseline JPEG whose frame header (SOF0) declares the given size."""
    frame_header = b"\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    return b"\xff\xd8\xff\xc0" + (len(frame_header) + 2).to_bytes(2, "big") + frame_header + b"\xff\xd9"


def nested_sequences(depth: int) -> bytes:
    """A Part 10 object holding `depth` nested undefined-length Content Sequences (pydicom cannot
    write these: it recurses once per level)."""
    opening = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return part10(base_dataset(BASIC_TEXT_SR)) + opening * depth + closing * depth


def non_image(sop_class_uid: str) -> Dataset:
    dataset = base_dataset(sop_class_uid)
    if sop_class_uid == BASIC_TEXT_SR:
        dataset.Modality = "SR"
        dataset.ValueType = "CONTAINER"
        dataset.ContentSequence = Sequence([_text_item("No acute findings.")])
    elif sop_class_uid == KEY_OBJECT_SELECTION:
        dataset.Modality = "KO"
        dataset.ValueType = "CONTAINER"
        dataset.ContentSequence = Sequence()
    elif sop_class_uid == ENCAPSULATED_PDF:
        dataset.Modality = "DOC"
        dataset.MIMETypeOfEncapsulatedDocument = "application/pdf"
        dataset.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    elif sop_class_uid == SEGMENTATION:
        dataset.Modality = "SEG"
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.Rows = 4
        dataset.Columns = 4
        dataset.BitsAllocated = 1
        dataset.BitsStored = 1
        dataset.HighBit = 0
        dataset.PixelRepresentation = 0
        dataset.NumberOfFrames = 1
        dataset.PixelData = b"\x0f\xf0"
    return dataset


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.TextValue = text
    return item


def dicomdir_pointing_outside() -> bytes:
    dataset = Dataset()
    dataset.FileSetID = "EXPORT"
    record = Dataset()
    record.DirectoryRecordType = "IMAGE"
    record.ReferencedFileID = ["..", "..", "etc", "passwd"]
    dataset.DirectoryRecordSequence = Sequence([record])
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = MEDIA_STORAGE_DIRECTORY
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.preamble = bytes(128)
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes], *, symlinks: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def zip_with_overlapping_entries(name: str, data: bytes, copies: int) -> bytes:
    """One compressed member listed `copies` times in the central directory (the kernel of a
    non-recursive zip bomb): every entry points at the same local header."""
    single = zip_of({name: data})
    end = single.rfind(b"PK\x05\x06")
    directory_offset = int.from_bytes(single[end + 16 : end + 20], "little")
    record = single[directory_offset:end]
    directory = record * copies
    end_record = (
        b"PK\x05\x06\x00\x00\x00\x00"
        + copies.to_bytes(2, "little") * 2
        + len(directory).to_bytes(4, "little")
        + directory_offset.to_bytes(4, "little")
        + b"\x00\x00"
    )
    return single[:directory_offset] + directory + end_record
