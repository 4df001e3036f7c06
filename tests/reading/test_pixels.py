"""dicomkit.pixels on its own: the served type decided from the header, decoding through the
modality LUT, the direct read of native files against pydicom's decoder, clear refusals; and
dicomkit.rendering's window."""

import contextlib
import io
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from dicomkit import pixels, rendering
from dicomkit.pixels import PixelDecodeError, PixelHeader, decode_frame, read_instance_header
from tests.conftest import samples_dir
from tests.reading.expected_pixels import as_served, expected_frame, frame_count, read, sample_files, sample_id


@pytest.mark.parametrize(
    ("header", "served"),
    [
        (PixelHeader(512, 512, bits_stored=16, pixel_representation=1, rescale_intercept=-1024), "int16"),
        (PixelHeader(512, 512, bits_stored=12, rescale_slope=1, rescale_intercept=-1024), "int16"),
        (PixelHeader(512, 512, bits_stored=16, rescale_intercept=-1024), "int16"),
        (PixelHeader(512, 512, bits_stored=12), "uint16"),
        (PixelHeader(512, 512, bits_stored=16, pixel_representation=1), "int16"),
        (PixelHeader(512, 512, bits_allocated=8, bits_stored=8), "uint8"),
        (PixelHeader(64, 64, bits_allocated=1, bits_stored=1), "uint8"),
        (PixelHeader(512, 512, bits_stored=12, rescale_slope=0.5), "float32"),
        (PixelHeader(512, 512, bits_stored=12, rescale_intercept=0.25), "float32"),
        (PixelHeader(10, 10, bits_allocated=32, bits_stored=32), "float32"),
        (PixelHeader(64, 64, bits_stored=12, pixel_representation=1, modality_lut_bits=16), "uint16"),
        (PixelHeader(64, 64, samples_per_pixel=3, photometric="YBR_FULL_422", bits_allocated=8), "rgb8"),
        (PixelHeader(64, 64, photometric="PALETTE COLOR", bits_allocated=16), "rgb8"),
    ],
)
def test_the_served_type_is_decided_from_the_header(header, served):
    assert header.served_type == served


def test_frame_bytes_count_three_samples_for_rgb():
    assert PixelHeader(10, 20, samples_per_pixel=3, bits_allocated=8).frame_bytes == 600
    assert PixelHeader(10, 20, pixel_representation=1).frame_bytes == 400


def small_dataset(values: np.ndarray, *, syntax: UID = ExplicitVRLittleEndian, **attributes) -> bytes:
    """A Secondary Capture with these stored values (as given, high bits and all)."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = syntax
    dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.Rows, dataset.Columns = values.shape[-2:]
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated = values.dtype.itemsize * 8
    dataset.BitsStored = attributes.pop("BitsStored", dataset.BitsAllocated)
    dataset.HighBit = dataset.BitsStored - 1
    dataset.PixelRepresentation = int(values.dtype.kind == "i")
    if values.ndim == 3:
        dataset.NumberOfFrames = values.shape[0]
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    big_endian = syntax == ExplicitVRBigEndian
    dataset.PixelData = values.astype(values.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
    dataset["PixelData"].VR = "OW" if dataset.BitsAllocated > 8 else "OB"
    output = io.BytesIO()
    dcmwrite(output, dataset, little_endian=not big_endian, implicit_vr=syntax == ImplicitVRLittleEndian)
    return output.getvalue()


def decode_both_ways(tmp_path, data: bytes, number: int = 1) -> tuple[bytes, bytes, PixelHeader]:
    """(direct read, pydicom) of one frame of a file."""
    path = tmp_path / "image.dcm"
    path.write_bytes(data)
    header = read_instance_header(path).frame_pixels(number)
    direct = decode_frame(path, number, header)
    with mock.patch.object(pixels, "read_directly", return_value=None):
        through_pydicom = decode_frame(path, number, header)
    return direct, through_pydicom, header


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_hounsfield_units_of_a_signed_ct_frame(tmp_path, syntax):
    stored = np.array([[-2000, 0], [1024, 3071]], dtype=np.int16)
    data = small_dataset(stored, syntax=syntax, RescaleSlope=1, RescaleIntercept=-1024)

    direct, through_pydicom, header = decode_both_ways(tmp_path, data)

    assert header.served_type == "int16"
    assert np.frombuffer(direct, "<i2").tolist() == [-3024, -1024, 0, 2047]
    assert direct == through_pydicom


def test_junk_high_bits_are_dropped_and_signed_values_extended_as_pydicom_does(tmp_path):
    unsigned = np.array([[0xF123, 0x0FFF]], dtype=np.uint16)
    direct, through_pydicom, _ = decode_both_ways(tmp_path, small_dataset(unsigned, BitsStored=12))
    assert np.frombuffer(direct, "<u2").tolist() == [0x123, 0xFFF] and direct == through_pydicom

    signed = np.array([[0x0800, 0x07FF]], dtype=np.uint16).view(np.int16)
    direct, through_pydicom, _ = decode_both_ways(tmp_path, small_dataset(signed, BitsStored=12))
    assert np.frombuffer(direct, "<i2").tolist() == [-2048, 2047] and direct == through_pydicom


def test_a_fractional_rescale_is_served_as_float32(tmp_path):
    stored = np.array([[0, 1], [2, 4095]], dtype=np.uint16)
    data = small_dataset(stored, BitsStored=12, RescaleSlope=0.5, RescaleIntercept=-0.25)

    direct, through_pydicom, header = decode_both_ways(tmp_path, data)

    assert header.served_type == "float32"
    assert np.frombuffer(direct, "<f4").tolist() == [-0.25, 0.25, 0.75, 2047.25]
    assert direct == through_pydicom


def test_one_frame_of_a_multiframe_file_is_read_alone(tmp_path):
    frames = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    direct, through_pydicom, _ = decode_both_ways(tmp_path, small_dataset(frames), number=2)
    assert np.frombuffer(direct, "<i2").tolist() == frames[1].ravel().tolist()
    assert direct == through_pydicom


def test_values_that_overflow_the_type_from_the_header_are_refused(tmp_path):
    stored = np.array([[-32768, 0]], dtype=np.int16)  # -33792 HU: not a CT value
    path = tmp_path / "overflow.dcm"
    path.write_bytes(small_dataset(stored, RescaleSlope=1, RescaleIntercept=-1024))
    with pytest.raises(PixelDecodeError, match="do not fit int16"):
        decode_frame(path, 1, read_instance_header(path).pixels)


def test_frames_beyond_the_object_and_over_the_size_cap_are_refused(tmp_path):
    path = tmp_path / "small.dcm"
    path.write_bytes(small_dataset(np.zeros((8, 8), dtype=np.int16)))
    header = read_instance_header(path).pixels
    with pytest.raises(PixelDecodeError, match="frame 2 does not exist"):
        decode_frame(path, 2, header)
    with pytest.raises(PixelDecodeError, match="limit 100"):
        decode_frame(path, 1, header, max_frame_bytes=100)


def test_a_compressed_frame_claiming_another_size_is_not_decoded(tmp_path):
    source = samples_dir() / "pydicom" / "MR_small_jp2klossless.dcm"
    dataset = dcmread(source)
    dataset.Rows = dataset.Columns = 32
    path = tmp_path / "lies.dcm"
    dataset.save_as(path)
    with pytest.raises(PixelDecodeError, match="the compressed frame says 64x64"):
        decode_frame(path, 1, read_instance_header(path).pixels)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("nema-wg04_MR4_JPLY", "libjpeg error code '-1038'"),
        ("pydicom_JPEG2000-embedded-sequence-delimiter.dcm", "the compressed frame says"),
        ("pydicom_MR_truncated.dcm", "less than expected"),
        ("orthanc_2026-05-26-oob-monochrome-46341.dcm", "would decode to"),
    ],
)
def test_undecodable_files_raise_a_clear_reason(name, reason):
    path = samples_dir() / "bad" / name
    with pytest.raises(PixelDecodeError, match=reason):
        decode_frame(path, 1, read_instance_header(path).pixels)


def test_an_unreadable_header_is_a_decode_error_not_a_crash():
    path = samples_dir() / "bad" / "orthanc_2026-05-06-Deeply-Nested-Sequence.dcm"
    # In a thread of its own, as in a server: at pytest's stack depth the unwinding of pydicom's
    # recursion fails again in generator clean-up, which pytest reports as an error at teardown.
    with ThreadPoolExecutor(max_workers=1) as pool:
        outcome = pool.submit(read_instance_header, path)
    with pytest.raises(PixelDecodeError, match="nested too deeply"):
        outcome.result()


NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


def decodable_samples() -> list:
    return [path for path in sample_files() if (dataset := read(path)) is not None and "PixelData" in dataset]


@pytest.mark.parametrize("path", decodable_samples(), ids=sample_id)
def test_every_sample_decodes_as_pydicom_says(path):
    dataset = read(path)
    try:
        header = read_instance_header(path)
        expected = expected_frame(dataset, 1)
    except Exception:
        pytest.skip("pydicom cannot decode it either (tests/reading/test_pixel_endpoints.py checks the 422)")
    if sample_id(path).startswith("bad/"):
        # pydicom decodes it, but its values are no reference for a broken file: served or refused.
        with contextlib.suppress(PixelDecodeError):
            decode_frame(path, 1, header.frame_pixels(1))
        return
    count = frame_count(dataset)
    for number in sorted({1, count}):
        frame_header = header.frame_pixels(number)
        served = decode_frame(path, number, frame_header)
        expected = expected_frame(dataset, number)
        assert served == as_served(expected, frame_header.served_type).tobytes()
        if frame_header.transfer_syntax in NATIVE_SYNTAXES and not frame_header.is_colour:
            with mock.patch.object(pixels, "read_directly", return_value=None):
                assert decode_frame(path, number, frame_header) == served, "the direct read differs from pydicom"


def test_the_direct_read_is_used_for_native_ct(tmp_path):
    path = tmp_path / "ct.dcm"
    path.write_bytes(small_dataset(np.zeros((4, 4), dtype=np.int16), RescaleIntercept=-1024, RescaleSlope=1))
    with mock.patch.object(pixels, "pixel_array", side_effect=AssertionError("pydicom was used")):
        decode_frame(path, 1, read_instance_header(path).pixels)


def test_an_enhanced_ct_takes_its_rescale_from_the_functional_groups():
    header = read_instance_header(samples_dir() / "pydicom-data" / "eCT_Supplemental.dcm")
    assert (header.frames[0].rescale_slope, header.frames[0].rescale_intercept) == (1.0, -1024.0)
    assert header.frame_pixels(1).served_type == "int16"
    assert header.frames[0].image_position is not None


# --- the stored frame (WADO-RS) ----------------------------------------------------------------
def test_the_stored_frame_of_a_compressed_file_is_its_bitstream():
    path = samples_dir() / "pydicom" / "MR_small_jp2klossless.dcm"
    header = read_instance_header(path).pixels
    stored = pixels.stored_frame(path, 1, header, keep_compressed=True)
    assert stored == get_frame(dcmread(path).PixelData, 0, number_of_frames=1)
    native = pixels.stored_frame(path, 1, header, keep_compressed=False)
    assert native == dcmread(path).pixel_array.astype("<i2").tobytes()


# --- rendering -----------------------------------------------------------------------------------
def test_the_linear_window_of_ps3_3():
    values = np.array([[-1000, 39.5, 40, 80, 1000]])
    grey = rendering.windowed(values, center=40, width=80)
    assert grey.tolist() == [[0, 128, 129, 255, 255]]
    assert rendering.windowed(values, center=40, width=80, invert=True).tolist() == [[255, 127, 126, 0, 0]]


def test_pictures_are_scaled_down_to_fit():
    picture = rendering.encode(np.zeros((300, 150), dtype=np.uint8), "image/png", max_size=128)
    assert Image.open(io.BytesIO(picture)).size == (64, 128)
