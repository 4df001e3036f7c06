"""Frames as the viewer draws them: decoded, through the modality LUT (PS3.3 C.11.1), as raw
little-endian typed arrays.

The served type of a frame is decided from header values alone, so a manifest can announce it
before anything is decoded: int16 when the values fit (CT in HU), uint16, uint8, rgb8 (interleaved
RGB; YBR converted, PALETTE COLOR expanded), float32 only when no integer type holds the values
exactly (a fractional rescale). Decoding then converts to that type and refuses, with a reason, a
frame whose values do not fit it, so what is served is always exact or absent.

Native little-endian monochrome frames are read straight from the file (the element header of
Pixel Data is checked at the end of the file), everything else goes through pydicom and the
pylibjpeg plugins; both give the same values (tests/reading/test_pixels.py)."""

import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

# The codestream header parsers of the decode check, shared rather than copied.
from dicomkit.pixel_check import J2K_CODESTREAM, JP2_SIGNATURE, JPEG_START, _j2k_size, _jpeg_frame_header

SERVED_TYPES: dict[str, np.dtype] = {
    "int16": np.dtype("<i2"),
    "uint16": np.dtype("<u2"),
    "uint8": np.dtype("u1"),
    "rgb8": np.dtype("u1"),
    "float32": np.dtype("<f4"),
}
INTEGER_RANGES = {"uint8": (0, 255), "uint16": (0, 65535), "int16": (-32768, 32767)}
DEFAULT_MAX_FRAME_BYTES = 256 << 20
NATIVE_LITTLE_ENDIAN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
MODALITY_LUT_SEQUENCE_TAG = b"\x28\x00\x00\x30"
# A header larger than this (big private blocks) is left to pydicom rather than scanned here.
MAX_SCANNED_HEADER = 1 << 20
TRANSFORMATION = "PixelValueTransformationSequence"


class PixelDecodeError(Exception):
    """A frame that cannot be served; `reason` says why in words a radiologist can read.
    `lasting` is False when trying again later may succeed (a file unreadable for now, memory)."""

    def __init__(self, reason: str, *, lasting: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.lasting = lasting


@dataclass(frozen=True)
class PixelHeader:
    """The header values that decide how one frame is decoded and served (PS3.3 C.7.6.3)."""

    rows: int
    columns: int
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"
    bits_allocated: int = 16
    bits_stored: int | None = None
    pixel_representation: int = 0
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    number_of_frames: int = 1
    transfer_syntax: str = ExplicitVRLittleEndian
    # Nominal bits of the Modality LUT Sequence's output (8 or 16), None without one.
    modality_lut_bits: int | None = None
    float_pixels: bool = False

    @property
    def is_colour(self) -> bool:
        return self.photometric == "PALETTE COLOR" or self.samples_per_pixel == 3

    @property
    def served_type(self) -> str:
        return served_type(self)

    @property
    def served_photometric(self) -> str:
        return "RGB" if self.is_colour else self.photometric

    @property
    def frame_bytes(self) -> int:
        """Bytes of one served frame."""
        samples = 3 if self.is_colour else 1
        return self.rows * self.columns * samples * SERVED_TYPES[self.served_type].itemsize

    def stored_range(self) -> tuple[int, int]:
        """The values Bits Stored and Pixel Representation allow before the modality LUT."""
        bits = self.bits_stored or self.bits_allocated
        if self.pixel_representation:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1

    def value_range(self) -> tuple[float, float]:
        """The values the header allows after the modality LUT, clipped to the served type."""
        if self.is_colour:
            return 0.0, 255.0
        if self.modality_lut_bits:
            return 0.0, float((1 << self.modality_lut_bits) - 1)
        low, high = self.stored_range()
        slope, intercept = self.slope, self.intercept
        first, last = sorted((low * slope + intercept, high * slope + intercept))
        limits = INTEGER_RANGES.get(self.served_type)
        if limits is not None:
            first, last = max(first, limits[0]), min(last, limits[1])
        return float(first), float(last)

    @property
    def slope(self) -> float:
        return 1.0 if self.rescale_slope is None else float(self.rescale_slope)

    @property
    def intercept(self) -> float:
        return 0.0 if self.rescale_intercept is None else float(self.rescale_intercept)


def served_type(header: PixelHeader) -> str:
    """int16, uint16, uint8, rgb8 or float32 for frames with this header, without decoding."""
    if header.is_colour:
        return "rgb8"
    if header.float_pixels:
        return "float32"
    if header.modality_lut_bits:
        return "uint8" if header.modality_lut_bits <= 8 else "uint16"
    slope, intercept = header.slope, header.intercept
    if not (slope.is_integer() and intercept.is_integer()):
        return "float32"
    low, high = header.stored_range()
    first, last = sorted((low * slope + intercept, high * slope + intercept))
    for name in ("uint8", "uint16", "int16"):
        bottom, top = INTEGER_RANGES[name]
        if bottom <= first and last <= top:
            return name
    if header.bits_allocated <= 16:
        # Signed 16-bit CT with intercept -1024 could in theory reach -33792 HU, never in a real
        # image: 16-bit data stays 16-bit and a frame that really overflows is refused when decoded.
        return "int16" if first < 0 else "uint16"
    return "float32"


@dataclass(frozen=True)
class FrameHeader:
    """What differs from frame to frame in an enhanced multi-frame object (PS3.3 C.7.6.16), or the
    instance's own values for a single frame."""

    image_position: list[float] | None = None
    image_orientation: list[float] | None = None
    pixel_spacing: list[float] | None = None
    slice_location: float | None = None
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    window_center: float | None = None
    window_width: float | None = None


@dataclass(frozen=True)
class InstanceHeader:
    pixels: PixelHeader
    frames: list[FrameHeader]

    def frame_pixels(self, number: int) -> PixelHeader:
        """The pixel header of frame `number` (1-based), with that frame's rescale."""
        frame = self.frames[number - 1]
        return replace(self.pixels, rescale_slope=frame.rescale_slope, rescale_intercept=frame.rescale_intercept)


def read_instance_header(path: str | os.PathLike[str]) -> InstanceHeader:
    """The pixel header and per-frame values of a stored object, read without its pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = dcmread(Path(path), force=True, stop_before_pixels=True)
            return instance_header(dataset)
    except RecursionError:
        raise PixelDecodeError("file cannot be read: sequences nested too deeply") from None
    except PixelDecodeError:
        raise
    except OSError as exc:
        raise PixelDecodeError(f"the stored file cannot be read: {exc.strerror or exc}", lasting=False) from None
    except Exception as exc:
        raise PixelDecodeError(f"header cannot be read: {_short(exc)}") from None


def instance_header(dataset: Dataset) -> InstanceHeader:
    rows, columns = _int(dataset, "Rows"), _int(dataset, "Columns")
    if not rows or not columns:
        raise PixelDecodeError("Rows or Columns missing or zero")
    frames = _int(dataset, "NumberOfFrames") or 1
    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    pixels = PixelHeader(
        rows=rows,
        columns=columns,
        samples_per_pixel=_int(dataset, "SamplesPerPixel") or 1,
        photometric=str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip(),
        bits_allocated=_int(dataset, "BitsAllocated") or 16,
        bits_stored=_int(dataset, "BitsStored"),
        pixel_representation=_int(dataset, "PixelRepresentation") or 0,
        rescale_slope=_float(dataset, "RescaleSlope"),
        rescale_intercept=_float(dataset, "RescaleIntercept"),
        number_of_frames=frames,
        transfer_syntax=transfer_syntax or ExplicitVRLittleEndian,
        modality_lut_bits=_modality_lut_bits(dataset),
        float_pixels="FloatPixelData" in dataset or "DoubleFloatPixelData" in dataset,
    )
    return InstanceHeader(pixels=pixels, frames=_frame_headers(dataset, frames))


def _frame_headers(dataset: Dataset, frames: int) -> list[FrameHeader]:
    shared = _first_item(dataset, "SharedFunctionalGroupsSequence")
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    top = FrameHeader(
        image_position=_floats(dataset, "ImagePositionPatient", 3),
        image_orientation=_floats(dataset, "ImageOrientationPatient", 6),
        pixel_spacing=_floats(dataset, "PixelSpacing", 2) or _floats(dataset, "ImagerPixelSpacing", 2),
        slice_location=_float(dataset, "SliceLocation"),
        rescale_slope=_float(dataset, "RescaleSlope"),
        rescale_intercept=_float(dataset, "RescaleIntercept"),
        window_center=_float(dataset, "WindowCenter"),
        window_width=_float(dataset, "WindowWidth"),
    )
    if shared is None and not per_frame:
        if frames == 1:
            return [top]
        # A classic multi-frame object (US cine, NM) has one position for all its frames.
        return [replace(top, image_position=None, slice_location=None) for _ in range(frames)]
    headers = []
    for index in range(frames):
        groups = [item for item in (per_frame[index] if index < len(per_frame) else None, shared) if item is not None]
        position = _group_floats(groups, "PlanePositionSequence", "ImagePositionPatient", 3)
        headers.append(
            FrameHeader(
                image_position=position,
                image_orientation=_group_floats(groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
                or top.image_orientation,
                pixel_spacing=_group_floats(groups, "PixelMeasuresSequence", "PixelSpacing", 2) or top.pixel_spacing,
                slice_location=None,
                rescale_slope=_group_float(groups, TRANSFORMATION, "RescaleSlope", top.rescale_slope),
                rescale_intercept=_group_float(groups, TRANSFORMATION, "RescaleIntercept", top.rescale_intercept),
                window_center=_group_float(groups, "FrameVOILUTSequence", "WindowCenter", top.window_center),
                window_width=_group_float(groups, "FrameVOILUTSequence", "WindowWidth", top.window_width),
            )
        )
    return headers


def _modality_lut_bits(dataset: Dataset) -> int | None:
    item = _first_item(dataset, "ModalityLUTSequence")
    if item is None:
        return None
    try:
        return 8 if int(item.LUTDescriptor[2]) <= 8 else 16
    except (AttributeError, IndexError, TypeError, ValueError):
        raise PixelDecodeError("Modality LUT Sequence without a valid LUT Descriptor") from None


# --- decoding ----------------------------------------------------------------------------------
def decode_frames(
    path: str | os.PathLike[str],
    requests: Sequence[tuple[int, PixelHeader]],
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> list[bytes | PixelDecodeError]:
    """Served bytes of frames (number 1-based, header with that frame's rescale) of one file, in
    request order; a frame that cannot be served comes back as its PixelDecodeError."""
    results: list[bytes | PixelDecodeError | None] = []
    for number, header in requests:
        try:
            results.append(read_directly(path, number, header, max_frame_bytes=max_frame_bytes))
        except PixelDecodeError as problem:
            results.append(problem)
    if any(result is None for result in results):
        dataset: Dataset | PixelDecodeError = _read_dataset(Path(path))
        for index, (number, header) in enumerate(requests):
            if results[index] is None:
                results[index] = (
                    dataset if isinstance(dataset, PixelDecodeError) else _decoded_frame(dataset, number, header)
                )
    return [result for result in results if result is not None]


def decode_frame(
    path: str | os.PathLike[str], number: int, header: PixelHeader, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> bytes:
    """The served bytes of one frame; raises PixelDecodeError."""
    result = decode_frames(path, [(number, header)], max_frame_bytes=max_frame_bytes)[0]
    if isinstance(result, PixelDecodeError):
        raise result
    return result


def served_array(data: bytes, header: PixelHeader) -> np.ndarray:
    """Served bytes back as an array of rows x columns (x 3 for rgb8)."""
    array = np.frombuffer(data, dtype=SERVED_TYPES[header.served_type])
    shape = (header.rows, header.columns, 3) if header.is_colour else (header.rows, header.columns)
    return array.reshape(shape)


def _check_request(number: int, header: PixelHeader, max_frame_bytes: int) -> None:
    if not 1 <= number <= header.number_of_frames:
        raise PixelDecodeError(f"frame {number} does not exist (the object has {header.number_of_frames})")
    decoded = header.rows * header.columns * header.samples_per_pixel * max(header.bits_allocated, 8) // 8
    if max(decoded, header.frame_bytes) > max_frame_bytes:
        raise PixelDecodeError(f"one frame would decode to {decoded} bytes (limit {max_frame_bytes})")


def reads_directly(header: PixelHeader) -> bool:
    """Whether frames with this header may be read straight from the file, without pydicom:
    native little-endian monochrome in whole bytes, no Modality LUT Sequence, no float pixels."""
    return (
        header.transfer_syntax in NATIVE_LITTLE_ENDIAN
        and header.samples_per_pixel == 1
        and not header.is_colour
        and header.bits_allocated in (8, 16, 32)
        and not header.modality_lut_bits
        and not header.float_pixels
    )


def read_directly(
    path: str | os.PathLike[str], number: int, header: PixelHeader, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> bytes | None:
    """The served bytes of a frame read straight from the file, or None to let pydicom decode it.
    Only where the result is certain: `reads_directly(header)`, Pixel Data the last element with
    exactly the expected length, and no Modality LUT Sequence in the file's header. The frame is
    read into a buffer kept per thread and converted there: every fresh 512 KB array costs page
    faults, which were most of the time of a frame."""
    _check_request(number, header, max_frame_bytes)
    if not reads_directly(header):
        return None
    stored_bytes = header.rows * header.columns * header.bits_allocated // 8
    buffer = _thread_buffer(stored_bytes)
    try:
        if not _read_native_frame(Path(path), number, header, buffer):
            return None
    except OSError as exc:
        raise PixelDecodeError(f"the stored file cannot be read: {exc.strerror or exc}", lasting=False) from None
    stored_type = {8: "u1", 16: "<u2", 32: "<u4"}[header.bits_allocated]
    values = _stored_bits(np.frombuffer(buffer, dtype=stored_type), header, in_place=True)
    return _integers_to_served(values, header, in_place=True)


_buffers = threading.local()


def _thread_buffer(size: int) -> memoryview:
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _buffers.buffer = bytearray(size)
    return memoryview(buffer)[:size]


def _read_native_frame(path: Path, number: int, header: PixelHeader, buffer: memoryview) -> bool:
    """Fill `buffer` with the stored bytes of frame `number`; False when the file is not laid out
    as expected."""
    frame_bytes = len(buffer)
    total = frame_bytes * header.number_of_frames
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        for padding in (0, 1):
            value_offset = size - total - padding
            header_start = value_offset - 12
            if header_start < 132 or header_start > MAX_SCANNED_HEADER:
                continue
            handle.seek(0)
            head = handle.read(value_offset)
            if _pixel_data_header_at_end(head, total + padding) and MODALITY_LUT_SEQUENCE_TAG not in head:
                handle.seek(value_offset + (number - 1) * frame_bytes)
                received = 0
                while received < frame_bytes:
                    count = handle.readinto(buffer[received:])
                    if not count:
                        return False
                    received += count
                return True
    return False


def _pixel_data_header_at_end(head: bytes, length: int) -> bool:
    """Whether `head` ends with the element header of Pixel Data of `length` bytes (explicit VR
    OB/OW, or implicit VR)."""
    explicit = head[-12:]
    if explicit[:4] == PIXEL_DATA_TAG and explicit[4:6] in (b"OW", b"OB") and explicit[6:8] == b"\x00\x00":
        return int.from_bytes(explicit[8:12], "little") == length
    implicit = head[-8:]
    return implicit[:4] == PIXEL_DATA_TAG and int.from_bytes(implicit[4:8], "little") == length


def _stored_bits(values: np.ndarray, header: PixelHeader, *, in_place: bool = False) -> np.ndarray:
    """Only the Bits Stored count, as pydicom does: high bits beyond them are often junk
    (overlays, old 12-bit scanners), and a signed value is sign-extended from its top stored bit."""
    bits = header.bits_stored or header.bits_allocated
    container = header.bits_allocated
    output = values if in_place else values.copy()
    if header.pixel_representation:
        signed = output.view({8: "i1", 16: "<i2", 32: "<i4"}[container])
        if bits < container:
            np.left_shift(signed, container - bits, out=signed)
            np.right_shift(signed, container - bits, out=signed)
        return signed
    if bits < container:
        np.bitwise_and(output, output.dtype.type((1 << bits) - 1), out=output)
    return output


def _integers_to_served(values: np.ndarray, header: PixelHeader, *, in_place: bool = False) -> bytes:
    """Stored integers through the rescale into the served type. With a slope of 1 the values are
    checked against the type's range first and then shifted in the type itself: arithmetic modulo
    2^n is exact when every result fits, and it is one pass instead of four through int32."""
    served = header.served_type
    if served not in INTEGER_RANGES or header.slope != 1.0 or not values.size:
        return _to_served(_rescaled(values, header), header)
    shift = int(header.intercept)
    low, high = int(values.min()) + shift, int(values.max()) + shift
    bottom, top = INTEGER_RANGES[served]
    if low < bottom or high > top:
        raise PixelDecodeError(f"values {low} to {high} do not fit {served} (decided from the header)")
    served_dtype = SERVED_TYPES[served]
    if in_place and values.dtype.itemsize == served_dtype.itemsize:
        output = values.view(served_dtype)
    else:
        output = values.astype(served_dtype)
    if shift:
        np.add(output, np.array(shift, dtype=np.int64).astype(served_dtype), out=output)
    return output.tobytes()


def _rescaled(values: np.ndarray, header: PixelHeader) -> np.ndarray:
    slope, intercept = header.slope, header.intercept
    if slope == 1.0 and intercept == 0.0:
        return values
    if header.served_type != "float32":
        # Integer arithmetic is exact and twice as fast as float64 on a 512x512 frame.
        return values.astype(np.int64 if header.bits_allocated > 16 else np.int32) * int(slope) + int(intercept)
    return values.astype(np.float64) * slope + intercept


def _to_served(values: np.ndarray, header: PixelHeader) -> bytes:
    served = header.served_type
    dtype = SERVED_TYPES[served]
    if served == "float32":
        return values.astype(dtype).tobytes()
    if served == "rgb8":
        return values.astype(dtype, copy=False).tobytes()
    if values.size:
        bottom, top = INTEGER_RANGES[served]
        low, high = values.min(), values.max()
        if low < bottom or high > top:
            raise PixelDecodeError(f"values {low:g} to {high:g} do not fit {served} (decided from the header)")
        if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
            raise PixelDecodeError(f"values are not whole numbers, {served} expected from the header")
    return values.astype(dtype, copy=False).tobytes()


def _read_dataset(path: Path) -> Dataset | PixelDecodeError:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dcmread(path, force=True)
    except RecursionError:
        return PixelDecodeError("file cannot be read: sequences nested too deeply")
    except MemoryError:
        return PixelDecodeError("file too large to read", lasting=False)
    except OSError as exc:
        return PixelDecodeError(f"the stored file cannot be read: {exc.strerror or exc}", lasting=False)
    except Exception as exc:
        return PixelDecodeError(f"file cannot be read: {_short(exc)}")


def _decoded_frame(dataset: Dataset, number: int, header: PixelHeader) -> bytes | PixelDecodeError:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _check_codestream(dataset, number, header)
            frame = pixel_array(dataset, index=number - 1)
            if frame.shape[:2] != (header.rows, header.columns):
                decoded = f"{frame.shape[1]}x{frame.shape[0]}"
                raise PixelDecodeError(f"decoded frame is {decoded}, the header says {header.columns}x{header.rows}")
            if _plain_integers(frame, dataset, header):
                little_endian = frame.astype(frame.dtype.newbyteorder("<"), copy=False)
                return _integers_to_served(little_endian, header, in_place=little_endian.flags.writeable)
            return _to_served(_served_values(frame, dataset, header), header)
    except PixelDecodeError as problem:
        return problem
    except MemoryError:
        return PixelDecodeError("pixel data too large to decode", lasting=False)
    except Exception as exc:
        # Any failure of a third-party decoder is a finding about the file, not a crash.
        return PixelDecodeError(f"pixel data cannot be decoded: {_short(exc)}")


def _plain_integers(frame: np.ndarray, dataset: Dataset, header: PixelHeader) -> bool:
    """A monochrome integer frame served through rescale alone (no LUT, no colour)."""
    return (
        not header.is_colour
        and frame.ndim == 2
        and frame.dtype.kind in "iu"
        and not header.modality_lut_bits
        and not dataset.get("ModalityLUTSequence")
    )


def _served_values(frame: np.ndarray, dataset: Dataset, header: PixelHeader) -> np.ndarray:
    if header.photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, dataset)
        # 16-bit palette entries hold the colour in their high byte (PS3.3 C.7.6.3.1.5).
        return (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 else rgb
    if header.is_colour:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise PixelDecodeError(f"{header.photometric} frame did not decode to three samples")
        bits = header.bits_stored or header.bits_allocated
        # 16-bit colour (rare: scanned film, microscopy) keeps its top 8 bits for the screen.
        return (frame >> (bits - 8)).astype(np.uint8) if bits > 8 else frame
    if frame.ndim != 2:
        raise PixelDecodeError(f"a {header.photometric} frame decoded to {frame.ndim} dimensions")
    if header.modality_lut_bits or dataset.get("ModalityLUTSequence"):
        # Checked against the type the header decided, which may not have known of the LUT.
        return apply_modality_lut(frame, dataset)
    if frame.dtype.kind == "f":
        return frame.astype(np.float64) * header.slope + header.intercept
    return _rescaled(frame.astype(frame.dtype.newbyteorder("<"), copy=False), header)


def _check_codestream(dataset: Dataset, number: int, header: PixelHeader) -> None:
    """Codecs allocate from their own header, not from Rows/Columns: a compressed frame claiming
    another size is refused before it is decoded (a decompression bomb or a wrong syntax)."""
    transfer_syntax = UID(header.transfer_syntax)
    if not transfer_syntax.is_compressed or "PixelData" not in dataset:
        return
    data = get_frame(dataset.PixelData, number - 1, number_of_frames=header.number_of_frames)
    head = bytes(data[:65536])
    if head.startswith(JPEG_START):
        found = _jpeg_frame_header(head)
        size = (found[1], found[2]) if found else None
    elif head.startswith(J2K_CODESTREAM) or head.startswith(JP2_SIGNATURE):
        size = _j2k_size(head)
    else:
        return  # RLE and deflate carry no size of their own
    if size is None:
        raise PixelDecodeError("compressed frame has no readable size in its header")
    width, height = size
    # Height 0 in a JPEG frame header means "given later by a DNL marker".
    if width != header.columns or height not in (header.rows, 0):
        raise PixelDecodeError(
            f"the compressed frame says {width}x{height}, Columns x Rows say {header.columns}x{header.rows}"
        )


# --- the stored frame, for WADO-RS -------------------------------------------------------------
def stored_frame(
    path: str | os.PathLike[str],
    number: int,
    header: PixelHeader,
    *,
    keep_compressed: bool,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
) -> bytes:
    """Frame `number` as PS3.18 8.7.3.5 serves it: the compressed bitstream of an encapsulated
    syntax when `keep_compressed`, else the native stored values (no modality LUT, colour space
    as stored) in Explicit VR Little Endian layout."""
    dataset = _read_dataset(Path(path))
    if isinstance(dataset, PixelDecodeError):
        raise dataset
    _check_request(number, header, max_frame_bytes)
    try:
        if keep_compressed and UID(header.transfer_syntax).is_compressed:
            return bytes(get_frame(dataset.PixelData, number - 1, number_of_frames=header.number_of_frames))
        _check_codestream(dataset, number, header)
        return native_frame(dataset, number, header)
    except PixelDecodeError:
        raise
    except MemoryError:
        raise PixelDecodeError("pixel data too large to decode") from None
    except Exception as exc:
        raise PixelDecodeError(f"pixel data cannot be decoded: {_short(exc)}") from None


def native_frame(dataset: Dataset, number: int, header: PixelHeader) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # raw: the colour space stays the one the metadata names (no YBR to RGB conversion).
        frame = pixel_array(dataset, index=number - 1, raw=True)
    if header.bits_allocated == 1:
        return np.packbits(frame.astype(np.uint8).ravel(), bitorder="little").tobytes()
    return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


# --- small readers ---------------------------------------------------------------------------
def _first_item(dataset: Dataset, keyword: str) -> Dataset | None:
    try:
        sequence = dataset.get(keyword)
        return sequence[0] if sequence else None
    except (IndexError, TypeError):
        return None


def _group_floats(groups: list[Dataset], macro: str, keyword: str, count: int) -> list[float] | None:
    for group in groups:
        item = _first_item(group, macro)
        if item is not None and (values := _floats(item, keyword, count)) is not None:
            return values
    return None


def _group_float(groups: list[Dataset], macro: str, keyword: str, default: float | None) -> float | None:
    for group in groups:
        item = _first_item(group, macro)
        if item is not None and (value := _float(item, keyword)) is not None:
            return value
    return default


def _int(dataset: Dataset, keyword: str) -> int | None:
    try:
        value = _first_value(dataset.get(keyword))
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _float(dataset: Dataset, keyword: str) -> float | None:
    try:
        value = _first_value(dataset.get(keyword))
        number = None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None
    return number if number is not None and np.isfinite(number) else None


def _floats(dataset: Dataset, keyword: str, count: int) -> list[float] | None:
    try:
        value = dataset.get(keyword)
        values = [float(item) for item in value] if value is not None and not isinstance(value, str) else []
    except (TypeError, ValueError):
        return None
    return values if len(values) == count and all(np.isfinite(values)) else None


def _first_value(value: Any) -> Any:
    if value is not None and not isinstance(value, (str, bytes)) and hasattr(value, "__getitem__"):
        return value[0] if len(value) else None
    return value


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    text = text.removeprefix("Unable to decode as exceptions were raised by all available plugins:")
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())[:240]
