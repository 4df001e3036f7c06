"""What pydicom says a frame holds, worked out here independently of dicomkit.pixels: the decoded
frame through pydicom's own modality LUT, with the frame's rescale taken from the functional
groups of an enhanced object (pydicom reads only the top-level one)."""

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pydicom.data
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array

from tests.conftest import SAMPLES

NOT_IMAGES = ("1.2.840.10008.5.1.4.1.1.66.", "1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.481.3")
# Thousands of nested sequences: pydicom's RecursionError, unwound at pytest's stack depth, leaves
# generators whose clean-up fails again and pytest reports it at teardown. Ingest refuses the file
# (tests/worklist/test_samples.py), so there is nothing to serve; test_pixels reads it in a thread.
UNREADABLE = ("orthanc_2026-05-06-Deeply-Nested-Sequence.dcm",)


def sample_files() -> list[Path]:
    """Every file of ../shared/dicom-samples and of pydicom's bundled test files, each content once."""
    folders = [SAMPLES, Path(pydicom.data.__file__).parent / "test_files"]
    seen: set[str] = set()
    files = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix in (".md", ".txt", ".xml", ".py", ".json", ".gz", ".bz2"):
                continue
            if path.name in UNREADABLE:
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                files.append(path)
    return files


def sample_id(path: Path) -> str:
    for folder in (SAMPLES, Path(pydicom.data.__file__).parent):
        if path.is_relative_to(folder):
            return str(path.relative_to(folder))
    return path.name


def read(path: Path) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dcmread(path, force=True)
    except Exception:
        return None


def frame_count(dataset: Dataset) -> int:
    try:
        return max(int(dataset.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def expected_frame(dataset: Dataset, number: int) -> np.ndarray:
    """Frame `number` (1-based) after the modality LUT; colour as pydicom gives it (RGB), palette
    colour expanded with its LUT and 16-bit colour reduced to its high byte, as served."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pixel_array(dataset, index=number - 1)
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    bits = int(dataset.get("BitsStored") or dataset.BitsAllocated)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, dataset)
        return (rgb >> 8).astype(np.uint8) if rgb.dtype.itemsize > 1 else rgb
    if int(dataset.get("SamplesPerPixel", 1)) == 3:
        return (frame >> (bits - 8)).astype(np.uint8) if bits > 8 else frame
    return apply_modality_lut(frame, _with_frame_rescale(dataset, number))


def _with_frame_rescale(dataset: Dataset, number: int) -> Dataset:
    slope = intercept = None
    groups = []
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if per_frame and len(per_frame) >= number:
        groups.append(per_frame[number - 1])
    if dataset.get("SharedFunctionalGroupsSequence"):
        groups.append(dataset.SharedFunctionalGroupsSequence[0])
    for group in groups:
        transformation = group.get("PixelValueTransformationSequence")
        if transformation and slope is None:
            slope = transformation[0].get("RescaleSlope")
            intercept = transformation[0].get("RescaleIntercept")
    if slope is None:
        return dataset
    copy = Dataset(dataset)
    copy.file_meta = dataset.file_meta
    copy.RescaleSlope, copy.RescaleIntercept = slope, intercept
    return copy


def as_served(expected: np.ndarray, dtype: str) -> np.ndarray:
    """The expected values in the served type; asserts the cast loses nothing (but for float32,
    the type chosen exactly when the values are not integers)."""
    numpy_type = {"int16": "<i2", "uint16": "<u2", "uint8": "u1", "rgb8": "u1", "float32": "<f4"}[dtype]
    cast = expected.astype(numpy_type)
    if dtype != "float32":
        assert np.array_equal(cast.astype(np.float64), expected.astype(np.float64)), f"{dtype} would lose values"
    return cast
