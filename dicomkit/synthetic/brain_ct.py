"""Non-contrast head CT: 5 mm axial slices from the skull base to the vertex, optionally with an
intraparenchymal haemorrhage in one hemisphere."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    Patient,
    StudyHeader,
    StudyOrder,
    code_item,
    default_order,
    default_patient,
    set_pixel_data,
    to_stored,
)
from .demo_study import DemoStudy, Lesion
from .head import HeadPhantom
from .raster import Grid, NoiseBank, set_axial_geometry

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
COVERAGE_MM = 150.0
BOTTOM_Z_MM = -54.0
FIELD_OF_VIEW_MM = 250.0
RESCALE_INTERCEPT = -1024

HOUNSFIELD = {
    "air": -1000.0,
    "scalp": 20.0,
    "fat": -90.0,
    "soft": 40.0,
    "bone": 1100.0,
    "diploe": 650.0,
    "csf": 6.0,
    "grey": 39.0,
    "white": 28.0,
    "deep_grey": 36.0,
    "falx": 55.0,
    "vitreous": 10.0,
    "lens": 95.0,
    "calcification": 260.0,
    "blood": 70.0,
    "oedema": 18.0,
    "cerebellum": 36.0,
    "brainstem": 31.0,
}


def brain_ct(
    *,
    slices: int = 30,
    size: int = 512,
    seed: int = 1,
    site_code: str = "ANSEONG",
    patient: Patient | None = None,
    order: StudyOrder | None = None,
    haemorrhage: bool = True,
) -> DemoStudy:
    """A head CT of `slices` axial images covering 150 mm (5 mm each by default)."""
    rng = np.random.default_rng([seed, 301])
    patient = patient or default_patient(seed, site_code, sex="M", age_years=71)
    order = order or default_order(seed, site_code, days_ago=0, hour=3)
    header = StudyHeader(
        seed=seed,
        site_code=site_code,
        patient=patient,
        order=order,
        description="CT Brain without contrast",
    )
    age = int(patient.age_on(order.study_datetime.date())[:3])
    phantom = HeadPhantom(rng, female=patient.sex == "F", atrophy_grade=1 if age >= 70 else 0)
    clot = phantom.place_haemorrhage(rng) if haemorrhage else None

    grid = Grid.centred(size, size, FIELD_OF_VIEW_MM / size)
    thickness = COVERAGE_MM / slices
    centres = BOTTOM_Z_MM + thickness * (np.arange(slices) + 0.5)
    series = header.series(
        2,
        modality="CT",
        description=f"Brain {thickness:g}mm",
        body_part="HEAD",
        station_suffix="CT01",
        model_name="SynthCT 128",
        with_frame_of_reference=True,
        protocol_name="Head routine",
    )
    planes = int(min(3, max(1, round(thickness / 1.6))))
    offsets = (np.arange(planes) - (planes - 1) / 2.0) * (thickness / planes)
    noise = NoiseBank(np.random.default_rng([seed, 302]), grid.shape)
    datasets = []
    for index, z in enumerate(centres):
        hu = np.zeros(grid.shape, dtype=np.float32)
        for offset in offsets:
            hu += phantom.render_plane(grid, float(z + offset), HOUNSFIELD, clot)[0]
        hu *= 1.0 / planes
        hu += noise.draw() * 3.5
        dataset = header.instance(series, index + 1, CT_IMAGE_STORAGE)
        _head_ct_attributes(dataset, grid, float(z), thickness)
        set_pixel_data(
            dataset,
            to_stored(hu - RESCALE_INTERCEPT, low=0, high=4095, dtype=np.int16),
            bits_stored=16,
        )
        datasets.append(dataset)

    lesions = []
    if clot is not None:
        x, y, z = clot.centre
        column, row = grid.to_pixel(x, y)
        slice_index = (z - float(centres[0])) / thickness
        nearest = int(np.clip(round(slice_index), 0, slices - 1))
        a, b, c = clot.axes
        lesions.append(
            Lesion(
                kind="haemorrhage",
                series_instance_uid=series.uid,
                sop_instance_uid=datasets[nearest].SOPInstanceUID,
                centre_voxel=(round(column, 2), round(row, 2), round(slice_index, 2)),
                centre_mm=(round(x, 2), round(y, 2), round(z, 2)),
                # Diameter of the sphere of equal volume; the axes are in `measure`.
                diameter_mm=round(2.0 * (a * b * c) ** (1.0 / 3.0), 1),
                measure={
                    "hu": round(clot.hu, 1),
                    "volume_ml": round(clot.volume_ml, 2),
                    "axes_mm": [round(2.0 * axis, 1) for axis in clot.axes],
                    "side": "left" if x > 0 else "right",
                    "location": clot.location,
                    "oedema_rim_mm": 4.0,
                },
            )
        )
    return DemoStudy(
        site_code,
        "stroke",
        header.study_instance_uid,
        patient.patient_id,
        datasets,
        lesions,
    )


def _head_ct_attributes(dataset, grid: Grid, z: float, thickness: float) -> None:
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    set_axial_geometry(dataset, grid, z, thickness)
    dataset.KVP = 120
    dataset.XRayTubeCurrent = 250
    dataset.ExposureTime = 1000
    dataset.Exposure = 250
    dataset.ConvolutionKernel = "BRAIN"
    dataset.ReconstructionDiameter = FIELD_OF_VIEW_MM
    dataset.DataCollectionDiameter = 500
    dataset.GantryDetectorTilt = 0
    dataset.TableHeight = 140
    dataset.RotationDirection = "CW"
    dataset.CTDIvol = round(45.0 + math.sqrt(thickness), 1)
    dataset.CTDIPhantomTypeCodeSequence = [code_item("113690", "DCM", "IEC Head Dosimetry Phantom")]
    dataset.AcquisitionNumber = 1
    dataset.RescaleIntercept = RESCALE_INTERCEPT
    dataset.RescaleSlope = 1
    dataset.RescaleType = "HU"
    dataset.WindowCenter = 40
    dataset.WindowWidth = 80
    dataset.WindowCenterWidthExplanation = "BRAIN"
