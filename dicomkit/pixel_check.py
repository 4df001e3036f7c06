"""Decode the first frame of a stored object and say, in words, why the viewer could not show it.

Ingest only checks the header; a codestream can still be broken (NEMA's *_JPLY originals), belong
to another syntax than the one declared, or claim a size its dataset does not. The codestream
header is compared with Rows/Columns before decoding, because codecs allocate from their own
header, not from the dataset's."""

import io
import os
import warnings
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array
from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLETransferSyntaxes,
)

DEFAULT_MAX_FRAME_BYTES = 512 << 20
HEADER_SCAN_BYTES = 1 << 16
ITEM_TAG = b"\xfe\xff\x00\xe0"
J2K_CODESTREAM = b"\xff\x4f\xff\x51"
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
JPEG_START = b"\xff\xd8"
JPEG_LS_FRAME_MARKER = 0xF7
# SOFn markers of ISO 10918-1: C0-CF except C4 (DHT), C8 (JPG) and CC (DAC).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# TEM, RST0-7 and SOI stand alone; every other marker starts a segment with a length.
JPEG_MARKERS_WITHOUT_LENGTH = frozenset(range(0xD0, 0xD9)) | {0x01}
# A CT value below this (in HU, after rescale) is not tissue, air or a padding convention
# (-3024, -3072), even after lossy compression smears the padding; raw values near the padding
# value or the frame's minimum are left out for the same reason.
IMPLAUSIBLE_HOUNSFIELD = -4096
IMPLAUSIBLE_FRACTION = 0.01
PADDING_SMEAR = 1024
ALL_PLUGINS_FAILED = "Unable to decode as exceptions were raised by all available plugins:"
MISMATCH = "declared syntax does not match the data"


def decode_problem(
    source: str | os.PathLike[str] | bytes,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> str:
    """Return "" when the first frame decodes to plausible pixels, else the reason it does not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = _read(source)
            return _problem(dataset, max_frame_bytes)
    except MemoryError:
        return "pixel data too large to decode"
    except RecursionError:
        return "file cannot be read: sequences nested too deeply"
    except Exception as exc:
        # Any failure of a third-party reader or decoder is a finding, not a crash.
        return f"pixel data cannot be decoded: {_short(exc)}"


def _read(source: str | os.PathLike[str] | bytes) -> Dataset:
    if isinstance(source, (bytes, bytearray)):
        return dcmread(io.BytesIO(source), force=True)
    return dcmread(Path(source), force=True)


def _problem(dataset: Dataset, max_frame_bytes: int) -> str:
    if "PixelData" not in dataset:
        return ""  # no integer Pixel Data: nothing a codec would decode
    transfer_syntax = _transfer_syntax(dataset)
    if transfer_syntax is None:
        return "File Meta has no Transfer Syntax UID"
    rows, columns = _int(dataset, "Rows"), _int(dataset, "Columns")
    bits_allocated = _int(dataset, "BitsAllocated")
    samples = _int(dataset, "SamplesPerPixel") or 1
    frames = _int(dataset, "NumberOfFrames", default=1)
    if not rows or not columns:
        return "Rows or Columns missing or zero"
    if not bits_allocated:
        return "Bits Allocated missing or zero"
    if frames is None or frames < 1:
        return f"Number of Frames {dataset.get('NumberOfFrames')!r} is not a positive number"
    frame_bytes = (rows * columns * samples * bits_allocated + 7) // 8
    if frame_bytes > max_frame_bytes:
        return f"one frame would decode to {frame_bytes} bytes (limit {max_frame_bytes})"

    raw_value = dataset["PixelData"].value or b""
    encapsulated = raw_value[:4] == ITEM_TAG
    if transfer_syntax.is_compressed:
        if not encapsulated:
            return f"{MISMATCH}: {_family(transfer_syntax)} declared but Pixel Data is not encapsulated"
        problem = _check_codestream(raw_value, transfer_syntax, rows=rows, columns=columns, frames=frames)
    else:
        problem = _check_native_length(len(raw_value), rows, columns, samples, bits_allocated, frames)
    if problem:
        return problem

    try:
        frame = pixel_array(dataset, index=0)
    except Exception as exc:
        return f"{_family(transfer_syntax)} data cannot be decoded: {_short(exc)}"
    if frame.shape[:2] != (rows, columns):
        return f"{MISMATCH}: decoded frame is {frame.shape[1]}x{frame.shape[0]}, Columns x Rows say {columns}x{rows}"
    return _implausible_values(dataset, frame)


def _transfer_syntax(dataset: Dataset) -> UID | None:
    meta = getattr(dataset, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def _family(transfer_syntax: UID) -> str:
    if transfer_syntax in JPEGTransferSyntaxes:
        return "JPEG"
    if transfer_syntax in JPEGLSTransferSyntaxes:
        return "JPEG-LS"
    if transfer_syntax in JPEG2000TransferSyntaxes:
        return "JPEG 2000"
    if transfer_syntax in RLETransferSyntaxes:
        return "RLE"
    if transfer_syntax.is_compressed:
        return f"compressed ({transfer_syntax.name})"
    return "native pixel"


def _check_native_length(length: int, rows: int, columns: int, samples: int, bits: int, frames: int) -> str:
    expected = (rows * columns * samples * bits * frames + 7) // 8
    padded = expected + expected % 2  # values of odd length carry one padding byte
    if length < expected:
        return f"Pixel Data is {length} bytes, {expected} expected for {columns}x{rows}x{frames}"
    if length > padded:
        return f"Pixel Data is {length} bytes, {expected} expected for {columns}x{rows}x{frames} (extra data)"
    return ""


def _check_codestream(encapsulated: bytes, transfer_syntax: UID, *, rows: int, columns: int, frames: int) -> str:
    first = next(generate_frames(encapsulated, number_of_frames=frames), b"")
    if not first:
        return "encapsulated Pixel Data holds no frame"
    family = _family(transfer_syntax)
    head = first[:HEADER_SCAN_BYTES]
    if family in ("JPEG", "JPEG-LS"):
        if not head.startswith(JPEG_START):
            return f"{MISMATCH}: {family} declared but the frame does not start with a JPEG marker"
        frame_header = _jpeg_frame_header(head)
        if frame_header is None:
            return f"{family} data cannot be decoded: no frame header (SOF) found"
        marker, width, height = frame_header
        if (marker == JPEG_LS_FRAME_MARKER) != (family == "JPEG-LS"):
            found = "JPEG-LS" if marker == JPEG_LS_FRAME_MARKER else "JPEG"
            return f"{MISMATCH}: {family} declared but the frame is {found}"
    elif family == "JPEG 2000":
        if head.startswith(JPEG_START):
            return f"{MISMATCH}: JPEG 2000 declared but the frame is JPEG"
        size = _j2k_size(head)
        if size is None:
            return f"{MISMATCH}: JPEG 2000 declared but no JPEG 2000 codestream header found"
        width, height = size
    elif family == "RLE":
        segments = int.from_bytes(head[:4], "little") if len(head) >= 64 else 0
        if not 1 <= segments <= 15:
            return f"{MISMATCH}: RLE declared but the frame has no RLE header"
        return ""
    else:
        return ""
    # Height 0 in a JPEG frame header means "given later by a DNL marker".
    if width != columns or height not in (rows, 0):
        return f"{MISMATCH}: the {family} header says {width}x{height}, Columns x Rows say {columns}x{rows}"
    return ""


def _jpeg_frame_header(data: bytes) -> tuple[int, int, int] | None:
    """(marker, width, height) of the first SOF segment, walking the marker segments."""
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in JPEG_MARKERS_WITHOUT_LENGTH:
            offset += 2
            continue
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        if marker in JPEG_FRAME_MARKERS or marker == JPEG_LS_FRAME_MARKER:
            if offset + 9 > len(data):
                return None
            height = int.from_bytes(data[offset + 5 : offset + 7], "big")
            width = int.from_bytes(data[offset + 7 : offset + 9], "big")
            return marker, width, height
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            return None
        offset += 2 + length
    return None


def _j2k_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the SIZ segment: image size less the image offset."""
    if data.startswith(J2K_CODESTREAM):
        start = 0
    elif data.startswith(JP2_SIGNATURE):
        # A JP2 file wrapper is not allowed in DICOM but common and decodable: look inside it.
        start = data.find(J2K_CODESTREAM)
    else:
        return None
    if start < 0 or start + 24 > len(data):
        return None
    siz = data[start + 4 :]
    x_size, y_size, x_offset, y_offset = (int.from_bytes(siz[index : index + 4], "big") for index in (4, 8, 12, 16))
    return x_size - x_offset, y_size - y_offset


def _implausible_values(dataset: Dataset, frame: np.ndarray) -> str:
    """A CT frame mostly below any physical Hounsfield value decoded 'fine' but wrongly (e.g. a
    lossless JPEG written with a broken 16-bit predictor): the pixels would mislead a reader."""
    if str(dataset.get("Modality", "")).upper() != "CT" or frame.ndim != 2 or frame.size == 0:
        return ""
    slope = _float(dataset, "RescaleSlope", 1.0)
    intercept = _float(dataset, "RescaleIntercept", 0.0)
    values = frame.astype(np.float64)
    # Padding outside the field of view is the frame's minimum, whether declared or not.
    counted = np.abs(values - values.min()) > PADDING_SMEAR
    padding = _int(dataset, "PixelPaddingValue")
    if padding is not None:
        counted &= np.abs(values - padding) > PADDING_SMEAR
    hounsfield = values[counted] * slope + intercept
    if hounsfield.size == 0:
        return ""
    fraction = float(np.count_nonzero(hounsfield < IMPLAUSIBLE_HOUNSFIELD)) / frame.size
    if fraction > IMPLAUSIBLE_FRACTION:
        return (
            f"CT values implausible: {fraction:.0%} of pixels below {IMPLAUSIBLE_HOUNSFIELD} HU "
            "(pixels decoded but do not match the declared encoding)"
        )
    return ""


def _int(dataset: Dataset, keyword: str, default: int | None = None) -> int | None:
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return default
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            value = value[0]
        return int(value)
    except (TypeError, ValueError, IndexError):
        return None


def _float(dataset: Dataset, keyword: str, default: float) -> float:
    try:
        value = dataset.get(keyword)
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # pydicom lists each plugin's own error on the lines after a generic first line.
    text = text.removeprefix(ALL_PLUGINS_FAILED)
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())[:240]
