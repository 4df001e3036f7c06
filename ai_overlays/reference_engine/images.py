"""From pydicom datasets to the arrays the detectors read: a volume in slice order with its
spacing, or one 2D image. Plain NumPy and pydicom, no Django."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut


@dataclass(frozen=True)
class Volume:
    """Voxels [slice, row, column] after the modality LUT, slices in the order of the contract
    (by position along the slice normal, else InstanceNumber); spacing in mm (slice, row, column)."""

    voxels: np.ndarray
    spacing: tuple[float, float, float]
    sop_instance_uids: list[str]
    series_instance_uid: str


@dataclass(frozen=True)
class Image:
    """One 2D frame in [0, 1] with 1 = most attenuating (MONOCHROME1 inverted), spacing in mm."""

    pixels: np.ndarray
    spacing: tuple[float, float]
    sop_instance_uid: str
    series_instance_uid: str


def slice_order(datasets: list[pydicom.Dataset]) -> tuple[list[pydicom.Dataset], list[float] | None]:
    """The contract's slice order: position along the normal of the first slice's orientation,
    falling back to InstanceNumber when any slice lacks geometry. Returns the datasets and their
    positions in mm along the normal (None without geometry)."""
    try:
        orientation = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        positions = [float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=float))) for ds in datasets]
    except (AttributeError, ValueError, TypeError):
        numbers = [int(getattr(ds, "InstanceNumber", 0) or 0) for ds in datasets]
        order = sorted(range(len(datasets)), key=lambda index: (numbers[index], index))
        return [datasets[index] for index in order], None
    order = sorted(range(len(datasets)), key=lambda index: (positions[index], index))
    return [datasets[index] for index in order], [positions[index] for index in order]


def pixel_spacing(dataset: pydicom.Dataset) -> tuple[float, float]:
    """(row, column) spacing in mm; 1 mm when the header has none, or none that is positive (the
    detectors' sizes are in mm, and a zero would divide them)."""
    spacing = getattr(dataset, "PixelSpacing", None) or getattr(dataset, "ImagerPixelSpacing", None) or (1.0, 1.0)
    try:
        row_mm, column_mm = float(spacing[0]), float(spacing[1])
    except (IndexError, TypeError, ValueError):
        return 1.0, 1.0
    return (row_mm, column_mm) if row_mm > 0 and column_mm > 0 else (1.0, 1.0)


def modality_values(dataset: pydicom.Dataset) -> np.ndarray:
    return apply_modality_lut(dataset.pixel_array, dataset).astype(np.float32)


def volume_of(datasets: list[pydicom.Dataset]) -> Volume:
    ordered, positions = slice_order(datasets)
    first = ordered[0]
    voxels = np.empty((len(ordered), int(first.Rows), int(first.Columns)), dtype=np.float32)
    for index, dataset in enumerate(ordered):
        voxels[index] = modality_values(dataset)
    row_mm, column_mm = pixel_spacing(first)
    slice_mm = float(np.median(np.diff(positions))) if positions and len(positions) > 1 else 0.0
    slice_mm = slice_mm or float(getattr(first, "SpacingBetweenSlices", 0) or getattr(first, "SliceThickness", 1) or 1)
    return Volume(
        voxels=voxels,
        spacing=(slice_mm, row_mm, column_mm),
        sop_instance_uids=[str(ds.SOPInstanceUID) for ds in ordered],
        series_instance_uid=str(first.SeriesInstanceUID),
    )


def image_of(dataset: pydicom.Dataset) -> Image:
    values = modality_values(dataset)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / max(high - low, 1e-6)
    if getattr(dataset, "PhotometricInterpretation", "") == "MONOCHROME1":
        scaled = 1.0 - scaled
    return Image(
        pixels=scaled.astype(np.float32),
        spacing=pixel_spacing(dataset),
        sop_instance_uid=str(dataset.SOPInstanceUID),
        series_instance_uid=str(dataset.SeriesInstanceUID),
    )
