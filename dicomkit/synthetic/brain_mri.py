"""3D T1-weighted brain MRI (MPRAGE-like) in axial slices, with graded global atrophy."""

from __future__ import annotations

import math

import numpy as np

from .common import (
    Patient,
    StudyHeader,
    StudyOrder,
    default_order,
    default_patient,
    set_pixel_data,
    to_stored,
)
from .demo_study import DemoStudy, Lesion
from .head import HeadPhantom
from .raster import Grid, NoiseBank, set_axial_geometry

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
COVERAGE_MM = 160.0
BOTTOM_Z_MM = -66.0
FIELD_OF_VIEW_MM = 240.0

# Signal on a 12-bit scale: white matter brightest in the brain, CSF dark, fat very bright.
T1_SIGNAL = {
    "air": 0.0,
    "scalp": 760.0,
    "fat": 980.0,
    "soft": 430.0,
    "bone": 40.0,
    "diploe": 640.0,
    "csf": 150.0,
    "grey": 540.0,
    "white": 830.0,
    "deep_grey": 630.0,
    "falx": 200.0,
    "vitreous": 110.0,
    "lens": 520.0,
    "calcification": 260.0,
    "blood": 900.0,
    "oedema": 380.0,
    "cerebellum": 610.0,
    "brainstem": 760.0,
}


def brain_mri_t1(
    *,
    slices: int = 160,
    size: int = 256,
    seed: int = 1,
    site_code: str = "ANSEONG",
    patient: Patient | None = None,
    order: StudyOrder | None = None,
    atrophy_grade: int = 2,
) -> DemoStudy:
    """A 3D T1 volume of `slices` axial images covering 160 mm; atrophy_grade 0 (none, no
    lesion reported) to 3 (severe) enlarges ventricles, sulci and the extra-axial CSF."""
    if atrophy_grade not in (0, 1, 2, 3):
        raise ValueError("atrophy_grade must be 0, 1, 2 or 3")
    rng = np.random.default_rng([seed, 401])
    patient = patient or default_patient(seed, site_code, sex="F", age_years=78)
    order = order or default_order(seed, site_code, days_ago=2, hour=14)
    header = StudyHeader(
        seed=seed,
        site_code=site_code,
        patient=patient,
        order=order,
        description="MRI Brain dementia protocol",
    )
    phantom = HeadPhantom(rng, female=patient.sex == "F", atrophy_grade=atrophy_grade)

    grid = Grid.centred(size, size, FIELD_OF_VIEW_MM / size)
    thickness = COVERAGE_MM / slices
    centres = BOTTOM_Z_MM + thickness * (np.arange(slices) + 0.5)
    series = header.series(
        3,
        modality="MR",
        description="T1 MPRAGE 3D AX",
        body_part="BRAIN",
        station_suffix="MR01",
        model_name="SynthMR 3T",
        minutes_after_start=6.0,
        with_frame_of_reference=True,
        protocol_name="Dementia T1 3D",
    )
    noise = NoiseBank(np.random.default_rng([seed, 402]), grid.shape, planes=16)
    X, Y = grid.x[None, :], grid.y[:, None]
    datasets = []
    ventricle_volume = intracranial_volume = 0.0
    for index, z in enumerate(centres):
        signal, areas = phantom.render_plane(grid, float(z), T1_SIGNAL)
        ventricle_volume += areas["ventricles"] * thickness
        intracranial_volume += areas["intracranial"] * thickness
        # Receive-coil sensitivity: brighter towards the back and the top of the head.
        signal *= 1.0 + 0.0007 * Y + 0.0006 * float(z) - 0.000006 * (X * X + Y * Y)
        real = signal + noise.draw() * 14.0
        imaginary = noise.draw() * 14.0
        magnitude = np.sqrt(real * real + imaginary * imaginary)
        dataset = header.instance(series, index + 1, MR_IMAGE_STORAGE)
        _mr_attributes(dataset, grid, float(z), thickness, size)
        set_pixel_data(
            dataset,
            to_stored(magnitude, low=0, high=4095, dtype=np.uint16),
            bits_stored=12,
        )
        datasets.append(dataset)

    lesions = []
    if atrophy_grade > 0:
        parts = phantom.ventricles[2:]
        cx = float(np.mean([part.centre[0] for part in parts]))
        cy = float(np.mean([part.centre[1] for part in parts]))
        cz = float(np.mean([part.centre[2] for part in parts]))
        column, row = grid.to_pixel(cx, cy)
        ventricle_ml = ventricle_volume / 1000.0
        lesions.append(
            Lesion(
                kind="atrophy",
                series_instance_uid=series.uid,
                sop_instance_uid=None,
                centre_voxel=(
                    round(column, 2),
                    round(row, 2),
                    round((cz - float(centres[0])) / thickness, 2),
                ),
                centre_mm=(round(cx, 2), round(cy, 2), round(cz, 2)),
                # Diameter of a sphere holding the ventricular volume.
                diameter_mm=round(2.0 * (3.0 * ventricle_volume / (4.0 * math.pi)) ** (1.0 / 3.0), 1),
                measure={
                    "ventricle_volume_ml": round(ventricle_ml, 1),
                    "intracranial_volume_ml": round(intracranial_volume / 1000.0, 1),
                    "ventricle_to_intracranial_ratio": round(ventricle_volume / intracranial_volume, 4),
                    "atrophy_grade": atrophy_grade,
                    "grading_scale": "global cortical atrophy (0-3)",
                },
            )
        )
    return DemoStudy(
        site_code,
        "dementia",
        header.study_instance_uid,
        patient.patient_id,
        datasets,
        lesions,
    )


def _mr_attributes(dataset, grid: Grid, z: float, thickness: float, size: int) -> None:
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    set_axial_geometry(dataset, grid, z, thickness)
    dataset.SpacingBetweenSlices = round(thickness, 4)
    dataset.ScanningSequence = ["GR", "IR"]
    dataset.SequenceVariant = ["SK", "SP", "MP"]
    dataset.ScanOptions = ""
    dataset.MRAcquisitionType = "3D"
    dataset.SequenceName = "*tfl3d1"
    dataset.RepetitionTime = 2300
    dataset.EchoTime = 2.98
    dataset.InversionTime = 900
    dataset.FlipAngle = 9
    dataset.EchoTrainLength = 1
    dataset.NumberOfAverages = 1
    dataset.ImagingFrequency = 123.25
    dataset.ImagedNucleus = "1H"
    dataset.MagneticFieldStrength = 3
    dataset.PixelBandwidth = 240
    dataset.ReceiveCoilName = "Head 32"
    dataset.TransmitCoilName = "Body"
    dataset.AcquisitionMatrix = [0, size, size, 0]
    dataset.InPlanePhaseEncodingDirection = "ROW"
    dataset.PercentSampling = 100
    dataset.PercentPhaseFieldOfView = 100
    dataset.AcquisitionNumber = 1
    dataset.WindowCenter = 500
    dataset.WindowWidth = 1000
