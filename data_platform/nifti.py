"""NIfTI volumes for training pipelines: one per CT or MR series the cleaning kept, slices sorted
along the normal, the affine from Image Position/Orientation (Patient) and Pixel Spacing turned
from DICOM's LPS into NIfTI's RAS, values after the modality rescale. Gzipped with a zero
timestamp, so a re-export stays byte-for-byte the same."""

import gzip

import nibabel
import numpy as np
import pydicom

VOLUME_MODALITIES = ("CT", "MR")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def wants_volume(datasets: list[pydicom.Dataset]) -> bool:
    """A stack of single-frame CT or MR slices that all carry the geometry a volume needs."""
    return len(datasets) >= 2 and all(
        str(dataset.get("Modality", "")) in VOLUME_MODALITIES
        and int(dataset.get("NumberOfFrames", 1) or 1) == 1
        and all(keyword in dataset for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"))
        for dataset in datasets
    )


def series_volume(datasets: list[pydicom.Dataset]) -> nibabel.Nifti1Image:
    """Voxel (i, j, k) = (column, row, slice), as NIfTI readers expect of DICOM-derived volumes."""
    orientation = np.array([float(value) for value in datasets[0].ImageOrientationPatient])
    along_rows, along_columns = orientation[:3], orientation[3:]
    normal = np.cross(along_rows, along_columns)

    def position(dataset):
        return np.array([float(value) for value in dataset.ImagePositionPatient])

    ordered = sorted(datasets, key=lambda dataset: float(np.dot(normal, position(dataset))))
    row_spacing, column_spacing = (float(value) for value in ordered[0].PixelSpacing)
    first, last = position(ordered[0]), position(ordered[-1])
    slice_step = (last - first) / (len(ordered) - 1)
    affine = np.eye(4)
    affine[:3, 0] = along_rows * column_spacing
    affine[:3, 1] = along_columns * row_spacing
    affine[:3, 2] = slice_step
    affine[:3, 3] = first
    volume = np.stack([_rescaled(dataset).T for dataset in ordered], axis=-1)
    image = nibabel.Nifti1Image(volume, LPS_TO_RAS @ affine)
    image.header.set_xyzt_units("mm")
    return image


def volume_bytes(image: nibabel.Nifti1Image) -> bytes:
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def _rescaled(dataset: pydicom.Dataset) -> np.ndarray:
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return (dataset.pixel_array.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)
