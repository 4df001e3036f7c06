"""Screening mammography: RCC, LCC, RMLO and LMLO "for presentation" images with
fibroglandular texture, pectoral muscle on the MLO views and one spiculated mass seen in both
views of one breast.

Each view is drawn for a left breast (chest wall at column 0, nipple to the right) and mirrored
for the right breast, which puts the chest walls back to back as reading stations hang them.
In the drawing frame u is the distance from the chest wall and v the height (mm, downwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, map_coordinates, zoom

from .common import (
    Patient,
    StudyHeader,
    StudyOrder,
    code_item,
    default_order,
    default_patient,
    set_pixel_data,
)
from .demo_study import DemoStudy, Lesion
from .radiograph import (
    BITS_STORED,
    anatomic_region,
    dx_attributes,
    expose,
    process,
    to_pixels,
)
from .raster import FLOAT, Grid, Tubes, add_tube_chords, power_law_noise, smoothstep

MG_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
PIXEL_SPACING_MM = 0.1
FAT, GLAND, MUSCLE, SKIN = (
    0.046,
    0.080,
    0.085,
    0.085,
)  # linear attenuation per mm at ~20 keV
# An invasive carcinoma attenuates a little more than the glandular tissue around it, which is
# what lets a reader (and the reference engine) see it through overlapping glandular tissue.
MASS = GLAND * 1.5
VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))
VIEW_CODES = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
}
ORIENTATION = {
    ("L", "CC"): ["A", "R"],
    ("R", "CC"): ["P", "L"],
    ("L", "MLO"): ["A", "FR"],
    ("R", "MLO"): ["P", "FL"],
}


@dataclass(frozen=True)
class Breast:
    """One breast's shape, shared by its CC and MLO views."""

    depth_cc: float  # chest wall to nipple, CC
    half_height_cc: float
    depth_mlo: float
    half_height_mlo: float
    thickness_cc: float
    thickness_mlo: float
    density: float  # 0 (fatty) .. 1 (extremely dense)


@dataclass(frozen=True)
class Mass:
    laterality: str
    depth_from_nipple: float
    lateral: float  # + lateral, - medial (mm)
    superior: float  # + superior, - inferior (mm)
    radius: float
    lobulation: tuple[float, float, float, float]
    spicules: tuple[tuple[float, float, float], ...]  # (angle, length, base radius)


def _outline(
    grid: Grid, breast: Breast, view: str, wobble: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Soft breast mask, pectoral-muscle mask and the nipple height, in the left-breast frame."""
    U = grid.x[None, :] - float(grid.x[0])
    V = grid.y[:, None]
    top = float(grid.y[0])
    if view == "CC":
        depth, half_height, centre = breast.depth_cc, breast.half_height_cc, 0.0
        vertical = np.where(centre > V, half_height * (1.0 + wobble[0]), half_height)
        radius = np.sqrt((U / depth) ** 2 + ((V - centre) / vertical) ** 2)
        pectoral = np.zeros_like(radius)
    else:
        depth, half_height, centre = breast.depth_mlo, breast.half_height_mlo, 18.0
        # Above the nipple the contour runs on up into the axilla instead of closing.
        upper = 1.18 * (centre - top)
        vertical = np.where(centre > V, upper, half_height)
        radius = np.sqrt((U / depth) ** 2 + ((V - centre) / vertical) ** 2)
        pectoral_top = depth * (0.42 + wobble[1])
        pectoral_length = 0.62 * (grid.y[-1] - top)
        edge = pectoral_top * np.clip(1.0 - (V - top) / pectoral_length, 0.0, 1.0) ** 0.85
        pectoral = np.clip((edge - U) / 1.0 + 0.5, 0.0, 1.0)
    mask = np.clip((1.0 - radius) * min(depth, half_height) / grid.spacing + 0.5, 0.0, 1.0)
    return mask.astype(FLOAT), (pectoral * mask).astype(FLOAT), centre


def _distance_inside(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Distance (mm) from each breast pixel to the skin line, computed on a coarse copy."""
    step = 4
    coarse = mask[::step, ::step] > 0.5
    # Pad the chest-wall side so it does not count as skin.
    padded = np.pad(coarse, ((0, 0), (40, 0)), mode="edge")
    distance = distance_transform_edt(padded)[:, 40:] * spacing * step
    grown = zoom(
        distance,
        (mask.shape[0] / coarse.shape[0], mask.shape[1] / coarse.shape[1]),
        order=1,
    )
    return grown[: mask.shape[0], : mask.shape[1]].astype(FLOAT)


def _glandular_fraction(
    rng: np.random.Generator,
    grid: Grid,
    breast: Breast,
    distance: np.ndarray,
    nipple_v: float,
    view: str,
) -> np.ndarray:
    """Projected fibroglandular fraction: 1/f^3 clumps plus streaks converging on the nipple,
    confined to a cone behind the nipple and spared from the subcutaneous fat."""
    rows, columns = grid.shape
    half = (rows // 2, columns // 2)
    clumps = power_law_noise(rng, half, beta=3.0)
    fine = power_law_noise(rng, half, beta=2.2)
    depth = breast.depth_cc if view == "CC" else breast.depth_mlo
    U = grid.x[None, ::2] - float(grid.x[0])
    V = grid.y[::2][:, None]
    # Streaks: noise sampled in (angle, distance from the nipple) and stretched along the distance.
    polar = power_law_noise(rng, (256, 64), beta=2.6)
    angle = np.arctan2(V - nipple_v, depth - U)
    distance_from_nipple = np.hypot(V - nipple_v, depth - U)
    coordinates = [(angle / math.pi + 1.0) * 128.0, distance_from_nipple / 9.0]
    streaks = map_coordinates(polar, coordinates, order=1, mode="wrap")
    envelope_centre = (0.55 * depth, nipple_v - (0.0 if view == "CC" else 0.25 * depth))
    envelope = np.exp(
        -(((U - envelope_centre[0]) / (0.5 * depth)) ** 2 + ((V - envelope_centre[1]) / (0.45 * depth)) ** 2)
    )
    drive = 0.8 * clumps + 0.8 * streaks + 0.35 * fine + 1.6 * envelope - 1.6 + 2.0 * breast.density
    fraction = 1.0 / (1.0 + np.exp(-drive / 0.8))
    fraction = zoom(fraction, (rows / half[0], columns / half[1]), order=1)[:rows, :columns]
    spared = smoothstep(5.0, 16.0, distance) * smoothstep(4.0, 18.0, grid.x[None, :] - float(grid.x[0]))
    return (fraction * spared).astype(FLOAT)


def _mass_position(mass: Mass, breast: Breast, view: str, nipple_v: float) -> tuple[float, float]:
    """(u, v) of the mass centre in the left-breast frame of a view."""
    if view == "CC":
        return breast.depth_cc - mass.depth_from_nipple, nipple_v - mass.lateral
    oblique = math.sqrt(0.5) * (mass.superior + mass.lateral)
    return breast.depth_mlo - mass.depth_from_nipple, nipple_v - oblique


def _add_mass(attenuation: np.ndarray, grid: Grid, mass: Mass, u: float, v: float, scale: float) -> None:
    x = u + float(grid.x[0])
    reach = mass.radius * 1.3 + grid.spacing
    window = grid.window(x - reach, x + reach, v - reach, v + reach)
    if window is not None:
        X, Y = grid.local(window)
        theta = np.arctan2(Y - v, X - x)
        a3, p3, a5, p5 = mass.lobulation
        boundary = mass.radius * (1.0 + a3 * np.cos(3.0 * theta + p3) + a5 * np.cos(5.0 * theta + p5))
        q = ((X - x) ** 2 + (Y - v) ** 2) / boundary**2
        attenuation[window] += scale * 2.0 * boundary * np.sqrt(np.clip(1.0 - q, 0.0, 1.0))
    starts, ends, radii = [], [], []
    for angle, length, base in mass.spicules:
        direction = np.array([math.cos(angle), math.sin(angle), 0.0])
        starts.append(np.array([x, v, 0.0]) + direction * mass.radius * 0.6)
        ends.append(np.array([x, v, 0.0]) + direction * (mass.radius + length))
        radii.append(base)
    spicules = Tubes(np.array(starts), np.array(ends), np.array(radii), np.array(radii) * 0.2)
    add_tube_chords(attenuation, grid, spicules, scale * 2.5)


def _render_view(
    anatomy_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    grid: Grid,
    breast: Breast,
    view: str,
    mass: Mass | None,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Presentation values in [0, 1] (left-breast frame) and the mass centre (u, v) if any."""
    wobble = (
        float(anatomy_rng.uniform(-0.06, 0.08)),
        float(anatomy_rng.uniform(-0.05, 0.05)),
    )
    mask, pectoral, nipple_v = _outline(grid, breast, view, wobble)
    distance = _distance_inside(mask, grid.spacing)
    thickness_full = breast.thickness_cc if view == "CC" else breast.thickness_mlo
    # Compressed thickness is flat under the paddle and rolls off over the last ~15 mm.
    roll = np.clip(distance / 15.0, 0.0, 1.0)
    thickness = thickness_full * np.sqrt(1.0 - (1.0 - roll) ** 2) * mask
    glandular = _glandular_fraction(anatomy_rng, grid, breast, distance, nipple_v, view)
    glandular *= 1.0 - pectoral
    attenuation = thickness * (FAT + (GLAND - FAT) * glandular)
    attenuation += pectoral * thickness * (MUSCLE - FAT) * 0.9
    attenuation += (SKIN - FAT) * 3.0 * np.clip(1.0 - distance / 1.6, 0.0, 1.0) * mask

    calcifications = anatomy_rng.uniform(0.0, 1.0, (int(anatomy_rng.integers(3, 9)), 3))
    for fx, fy, size in calcifications:
        cx = float(grid.x[0]) + (0.2 + 0.6 * fx) * (breast.depth_cc if view == "CC" else breast.depth_mlo)
        cy = nipple_v + (fy - 0.5) * 90.0
        _add_dot(attenuation, grid, cx, cy, 0.25 + 0.5 * size, 0.6)

    centre = None
    if mass is not None:
        centre = _mass_position(mass, breast, view, nipple_v)
        _add_mass(attenuation, grid, mass, *centre, scale=MASS - FAT)

    signal = expose(noise_rng, attenuation, photons=8000.0)
    # Peripheral equalisation: remove most of the thickness roll-off so the skin line shows.
    signal -= 0.85 * FAT * (thickness - thickness_full * mask)
    presentation = process(
        signal,
        mask,
        grid.spacing,
        equalisation=0.35,
        equalisation_mm=20.0,
        sharpening=1.0,
        sharpening_mm=0.8,
        low=1.0,
        high=99.8,
    )
    presentation *= smoothstep(0.0, 1.0, mask)
    return presentation, centre


def _add_dot(image: np.ndarray, grid: Grid, x: float, y: float, radius: float, weight: float) -> None:
    window = grid.window(
        x - radius - grid.spacing,
        x + radius + grid.spacing,
        y - radius - grid.spacing,
        y + radius + grid.spacing,
    )
    if window is not None:
        X, Y = grid.local(window)
        image[window] += weight * 2.0 * np.sqrt(np.maximum(radius * radius - (X - x) ** 2 - (Y - y) ** 2, 0.0))


def _sample_breast(rng: np.random.Generator) -> Breast:
    depth = float(rng.uniform(90.0, 120.0))
    return Breast(
        depth_cc=depth,
        half_height_cc=float(rng.uniform(72.0, 86.0)),
        depth_mlo=depth * float(rng.uniform(1.08, 1.18)),
        half_height_mlo=float(rng.uniform(74.0, 88.0)),
        thickness_cc=float(rng.uniform(42.0, 58.0)),
        thickness_mlo=float(rng.uniform(46.0, 62.0)),
        density=float(rng.uniform(0.25, 0.75)),
    )


def _sample_mass(
    rng: np.random.Generator,
    laterality: str,
    breasts: dict[str, Breast],
    diameter_mm: float | None,
) -> Mass:
    breast = breasts[laterality]
    # Always draw the size, so a prior with a given diameter keeps the same position draws.
    drawn = float(rng.uniform(10.0, 22.0))
    radius = (diameter_mm or drawn) / 2.0
    count = int(rng.integers(12, 22))
    spicules = tuple(
        (
            float(angle),
            float(rng.uniform(1.2, 2.8)) * radius,
            float(rng.uniform(0.6, 1.3)),
        )
        for angle in np.sort(rng.uniform(0.0, 2.0 * math.pi, count))
    )
    return Mass(
        laterality=laterality,
        depth_from_nipple=float(rng.uniform(0.35, 0.7)) * breast.depth_cc,
        lateral=float(rng.uniform(-0.35, 0.45)) * breast.half_height_cc,
        superior=float(rng.uniform(-0.3, 0.45)) * breast.half_height_mlo,
        radius=radius,
        lobulation=(
            float(rng.uniform(0.05, 0.14)),
            float(rng.uniform(0, 6.3)),
            float(rng.uniform(0.02, 0.07)),
            float(rng.uniform(0, 6.3)),
        ),
        spicules=spicules,
    )


def _clock_position(mass: Mass) -> str:
    """Clock-face position as the radiologist reports it (viewer facing the patient)."""
    # Lateral is towards 9 o'clock on the right breast and 3 o'clock on the left.
    x = mass.lateral if mass.laterality == "L" else -mass.lateral
    angle = math.degrees(math.atan2(x, mass.superior)) % 360.0
    hour = round(angle / 30.0) % 12
    return f"{12 if hour == 0 else hour} o'clock"


def mammography_exam(
    *,
    rows: int = 2048,
    columns: int = 1664,
    seed: int = 1,
    anatomy_seed: int | None = None,
    site_code: str = "ANSEONG",
    patient: Patient | None = None,
    order: StudyOrder | None = None,
    mass: bool = True,
    mass_laterality: str | None = None,
    mass_diameter_mm: float | None = None,
) -> DemoStudy:
    """Four-view screening mammogram of rows x columns pixels (0.1 mm at the default size).

    `anatomy_seed` fixes breast shape, texture and the mass position so that a prior and a
    current exam of one woman match; `seed` varies the noise and the UIDs. `mass_diameter_mm`
    lets a prior show the same mass smaller.
    """
    anatomy_seed = seed if anatomy_seed is None else anatomy_seed
    shape_rng = np.random.default_rng([anatomy_seed, 501])
    patient = patient or default_patient(seed, site_code, sex="F", age_years=54)
    order = order or default_order(seed, site_code, days_ago=4, hour=10)
    header = StudyHeader(
        seed=seed,
        site_code=site_code,
        patient=patient,
        order=order,
        description="MG Screening Bilateral",
    )
    breasts = {side: _sample_breast(shape_rng) for side in ("R", "L")}
    # Both breasts of one woman have similar density.
    breasts["L"] = Breast(**{**breasts["L"].__dict__, "density": breasts["R"].density})
    laterality = mass_laterality or str(shape_rng.choice(["R", "L"]))
    planted = _sample_mass(shape_rng, laterality, breasts, mass_diameter_mm) if mass else None
    spacing = PIXEL_SPACING_MM * 2048.0 / rows
    grid = Grid.centred(rows, columns, spacing)
    noise_rng = np.random.default_rng([seed, 502])

    datasets, lesions = [], []
    for number, (side, view) in enumerate(VIEWS, start=1):
        view_rng = np.random.default_rng([anatomy_seed, 510, number])
        series = header.series(
            number,
            modality="MG",
            description=f"{side}{view}",
            body_part="BREAST",
            station_suffix="MG01",
            model_name="SynthMammo 3000",
            minutes_after_start=1.0 + number,
        )
        mass_here = planted if planted is not None and planted.laterality == side else None
        presentation, centre = _render_view(view_rng, noise_rng, grid, breasts[side], view, mass_here)
        if side == "R":
            presentation = presentation[:, ::-1]
        dataset = header.instance(series, 1, MG_FOR_PRESENTATION)
        _mammography_attributes(dataset, side, view, spacing, breasts[side])
        set_pixel_data(
            dataset,
            to_pixels(np.ascontiguousarray(presentation), "MONOCHROME2"),
            bits_stored=BITS_STORED,
        )
        datasets.append(dataset)
        if centre is not None:
            column, row = grid.to_pixel(centre[0] + float(grid.x[0]), centre[1])
            if side == "R":
                column = columns - 1 - column
            lesions.append(
                Lesion(
                    kind="breast_mass",
                    series_instance_uid=series.uid,
                    sop_instance_uid=dataset.SOPInstanceUID,
                    centre_voxel=(round(column, 2), round(row, 2)),
                    centre_mm=None,
                    diameter_mm=round(2.0 * planted.radius, 1),
                    measure={
                        "laterality": side,
                        "view": view,
                        "clock_position": _clock_position(planted),
                        "distance_from_nipple_mm": round(planted.depth_from_nipple, 1),
                        "margin": "spiculated",
                        "bi_rads": 5 if planted.radius >= 6.0 else 4,
                    },
                )
            )
    return DemoStudy(
        site_code,
        "breast",
        header.study_instance_uid,
        patient.patient_id,
        datasets,
        lesions,
    )


def _mammography_attributes(dataset, side: str, view: str, spacing: float, breast: Breast) -> None:
    dx_attributes(
        dataset,
        imager_spacing=spacing,
        magnification=1.0,
        photometric="MONOCHROME2",
        source_to_detector=650.0,
        kvp=29 if view == "CC" else 30,
        exposure_uas=95000 if view == "CC" else 110000,
        body_part="BREAST",
    )
    dataset.ImageType = ["ORIGINAL", "PRIMARY", ""]
    dataset.ViewPosition = view
    dataset.ImageLaterality = side
    dataset.PatientOrientation = ORIENTATION[(side, view)]
    dataset.PositionerType = "MAMMOGRAPHIC"
    dataset.PositionerPrimaryAngle = 0 if view == "CC" else (45 if side == "R" else -45)
    dataset.OrganExposed = "BREAST"
    dataset.BreastImplantPresent = "NO"
    dataset.PartialView = "NO"
    thickness = breast.thickness_cc if view == "CC" else breast.thickness_mlo
    dataset.BodyPartThickness = round(thickness, 1)
    dataset.CompressionForce = 110 if view == "CC" else 125
    dataset.AnodeTargetMaterial = "TUNGSTEN"
    dataset.FilterMaterial = "RHODIUM"
    dataset.AnatomicRegionSequence = anatomic_region("76752008", "Breast")
    code, meaning = VIEW_CODES[view]
    dataset.ViewCodeSequence = [code_item(code, "SCT", meaning)]
    dataset.ViewCodeSequence[0].ViewModifierCodeSequence = []
    dataset.AcquisitionDeviceProcessingDescription = "MAMMO STANDARD"
