"""Small CT series built in memory with known geometry and pixel values, ingested for real: the
material of the cleaning and NIfTI tests."""

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from worklist.ingest import ingest

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ROWS, COLUMNS = 6, 5
# Axial rows along +x, columns along +y; slices 2.5 mm apart along +z.
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ROW_SPACING, COLUMN_SPACING, SLICE_STEP = 0.8, 0.7, 2.5
ORIGIN = (-100.0, -120.0, 40.0)
SLOPE, INTERCEPT = 2.0, -1024.0


def stored_values(slice_index: int) -> np.ndarray:
    """The stored (pre-rescale) pixel values of one slice: every voxel different."""
    return (np.arange(ROWS * COLUMNS, dtype=np.uint16).reshape(ROWS, COLUMNS) + 100 * slice_index).astype(np.uint16)


def ct_slice(*, study_uid: str, series_uid: str, index: int, patient_id: str = "P-CLEAN-1", **extra) -> Dataset:
    dataset = Dataset()
    dataset.SpecificCharacterSet = "ISO_IR 100"
    dataset.SOPClassUID = CT_IMAGE
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
    dataset.Modality = "CT"
    dataset.PatientName, dataset.PatientID = "Park^Jiho", patient_id
    dataset.PatientBirthDate, dataset.PatientSex = "19600101", "M"
    dataset.StudyDate, dataset.StudyTime, dataset.AccessionNumber, dataset.StudyID = "20240102", "101500", "A-9", "1"
    dataset.BodyPartExamined = "CHEST"
    dataset.SeriesNumber, dataset.InstanceNumber = 1, index + 1
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    dataset.BurnedInAnnotation = "NO"
    dataset.ImageOrientationPatient = list(AXIAL)
    dataset.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], ORIGIN[2] + SLICE_STEP * index]
    dataset.PixelSpacing = [ROW_SPACING, COLUMN_SPACING]
    dataset.SliceThickness = SLICE_STEP
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.Rows, dataset.Columns = ROWS, COLUMNS
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
    dataset.RescaleSlope, dataset.RescaleIntercept, dataset.RescaleType = SLOPE, INTERCEPT, "HU"
    dataset.PixelData = stored_values(index).tobytes()
    for keyword, value in extra.items():
        setattr(dataset, keyword, value)
    return dataset


def ingest_series(site, *, study_uid: str, indexes=(0, 1, 2, 3), per_slice: dict | None = None, **extra) -> str:
    """Ingest one series of the given slice indexes (`per_slice`: index -> attributes of that slice
    alone); its Series Instance UID."""
    series_uid = generate_uid()
    for index in indexes:
        attributes = {**extra, **(per_slice or {}).get(index, {})}
        dataset = ct_slice(study_uid=study_uid, series_uid=series_uid, index=index, **attributes)
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        assert ingest(buffer.getvalue(), site=site, source="test").ok
    return series_uid
