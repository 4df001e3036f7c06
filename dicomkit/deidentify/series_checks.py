"""Cleaning: why a series cannot serve as a training volume. Reason codes, [] when usable."""

import numpy as np
from pydicom import Dataset

ORIENTATION_TOLERANCE = 1e-3
# Gaps more than 1.5 times the typical spacing are a missing slice; smaller deviations beyond 10 %
# are uneven spacing (e.g. a variable-pitch or stitched acquisition).
MISSING_FACTOR = 1.5
UNEVEN_FRACTION = 0.10
DUPLICATE_MM = 0.01


def series_problems(datasets: list[Dataset]) -> list[str]:
    """Reason codes from: localizer, undecodable_pixels, mixed_orientation, duplicate_slice,
    missing_slice, uneven_spacing."""
    problems = []
    if any(_is_localizer(dataset) for dataset in datasets):
        problems.append("localizer")
    if any(not _pixels_decodable(dataset) for dataset in datasets):
        problems.append("undecodable_pixels")
    orientations = [_orientation(dataset) for dataset in datasets]
    known = [value for value in orientations if value is not None]
    if known and any(np.abs(value - known[0]).max() > ORIENTATION_TOLERANCE for value in known):
        problems.append("mixed_orientation")
        return problems
    positions = _positions(datasets, known[0] if len(known) == len(datasets) and known else None)
    problems.extend(_spacing_problems(positions))
    return problems


def _is_localizer(dataset: Dataset) -> bool:
    image_type = {str(value).upper() for value in dataset.get("ImageType", []) or []}
    return bool(image_type & {"LOCALIZER", "SCOUT", "TOPOGRAM"})


def _orientation(dataset: Dataset) -> np.ndarray | None:
    value = dataset.get("ImageOrientationPatient")
    return np.array([float(v) for v in value]) if value and len(value) == 6 else None


def _positions(datasets: list[Dataset], orientation: np.ndarray | None) -> list[float]:
    """Each slice's position along the normal, else its InstanceNumber (the contract's fallback)."""
    if orientation is not None and all("ImagePositionPatient" in dataset for dataset in datasets):
        normal = np.cross(orientation[:3], orientation[3:])
        return sorted(float(np.dot(normal, [float(v) for v in d.ImagePositionPatient])) for d in datasets)
    return sorted(float(dataset.get("InstanceNumber", 0) or 0) for dataset in datasets)


def _spacing_problems(positions: list[float]) -> list[str]:
    if len(positions) < 3:
        return []
    gaps = np.diff(np.array(positions))
    problems = []
    if (gaps < DUPLICATE_MM).any():
        problems.append("duplicate_slice")
    gaps = gaps[gaps >= DUPLICATE_MM]
    if not len(gaps):
        return problems
    typical = float(np.median(gaps))
    if (gaps > MISSING_FACTOR * typical).any():
        problems.append("missing_slice")
    regular = gaps[gaps <= MISSING_FACTOR * typical]
    if (np.abs(regular - typical) > UNEVEN_FRACTION * typical).any():
        problems.append("uneven_spacing")
    return problems


def _pixels_decodable(dataset: Dataset) -> bool:
    """Native pixel data must have the size its header promises; encapsulated data must decode."""
    if "PixelData" not in dataset:
        return False
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta else None
    try:
        if syntax is not None and syntax.is_compressed:
            dataset.pixel_array  # noqa: B018 - decoding is the check
            return True
        expected = (
            int(dataset.Rows)
            * int(dataset.Columns)
            * int(dataset.get("SamplesPerPixel", 1))
            * int(dataset.get("NumberOfFrames", 1) or 1)
            * ((int(dataset.BitsAllocated) + 7) // 8)
        )
    except Exception:  # noqa: BLE001 - any decoder failure means "undecodable"
        return False
    length = len(dataset.PixelData)
    return expected <= length <= expected + 1
