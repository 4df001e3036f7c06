"""PA chest radiograph: water-equivalent path lengths through body, lungs, heart, bones and
vessels, exposed with quantum noise and processed like a DX "for presentation" image.

Coordinates are millimetres in the patient plane: x to the image right (the patient's left in
a PA view), y downwards (towards the feet), origin at the image centre.
"""

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
    site_for,
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
from .raster import (
    FLOAT,
    Grid,
    Tubes,
    add_ellipsoid_chord,
    add_tube_chords,
    ellipsoid_chord,
    smoothstep,
)
from .vessel_tree import grow_tree

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DETECTOR_MM = 409.6
MAGNIFICATION = 1.1
WATER_ATTENUATION = 0.021  # per mm at an effective ~60 keV
BONE_EXCESS = 1.3  # extra water-equivalent mm per mm of cortical bone
NODULE_DENSITY = 2.0  # water-equivalent mm per mm of planted nodule


class ChestRadiographPhantom:
    def __init__(self, rng: np.random.Generator, *, female: bool):
        s = float(rng.uniform(0.93, 1.03)) * (0.94 if female else 1.0)
        self.scale = s
        self.female = female
        self.lungs = (
            ((-78.0 * s, -18.0 * s), (74.0 * s, 145.0 * s)),
            ((80.0 * s, -16.0 * s), (72.0 * s, 143.0 * s)),
        )
        right_dome = (72.0 + float(rng.uniform(-8, 8))) * s
        self.domes = ((-60.0 * s, right_dome), (65.0 * s, right_dome + 14.0 * s))
        self.heart = ((24.0 * s, 50.0 * s), (74.0 * s, 62.0 * s), -0.25)
        self.hila = {
            -1: np.array([-50.0 * s, -22.0 * s, 0.0]),
            1: np.array([52.0 * s, -26.0 * s, 0.0]),
        }
        self.ribs = self._ribs()

    def lung_air(self, X, Y) -> np.ndarray:
        """Air path (mm) through both lungs, cut by the domes, the mediastinum and the heart."""
        s = self.scale
        air = np.zeros(np.broadcast_shapes(X.shape, Y.shape), dtype=FLOAT)
        for (cx, cy), (a, b) in self.lungs:
            air += ellipsoid_chord(X, Y, cx, cy, a, b, 150.0 * s)
        below = np.zeros_like(air)
        for index, (dx, top) in enumerate(self.domes):
            side = smoothstep(-6.0, 6.0, X) if index else 1.0 - smoothstep(-6.0, 6.0, X)
            dome = top + 0.0042 / s * (X - dx) ** 2
            below = below + side * (Y - dome)
        # Sharp dome contour, with the posterior recesses still faintly aerated below it.
        diaphragm = np.where(below < 0.0, 1.0, 0.22 * np.exp(-np.maximum(below, 0.0) / 18.0))
        diaphragm = np.minimum(diaphragm, 1.0 - 0.78 * smoothstep(-2.0, 2.0, below))
        # The upper mediastinum (trachea, great vessels) narrows the lungs down to the hila;
        # lower down the heart shadow forms the medial contours.
        half_width = (24.0 - 10.0 * smoothstep(-40.0, 20.0, Y / s)) * s
        mediastinum = smoothstep(half_width - 4.0, half_width + 8.0, np.abs(X - 4.0 * s))
        (hx, hy), (ha, hb), angle = self.heart
        heart = np.sqrt(ellipsoid_chord(X, Y, hx, hy, ha, hb, 1.0, angle))
        knob = ellipsoid_chord(X, Y, 34.0 * s, -86.0 * s, 19.0 * s, 17.0 * s, 1.0)
        return air * diaphragm * mediastinum * (1.0 - 0.85 * heart) * (1.0 - 0.8 * knob)

    def body_path(self, X, Y) -> np.ndarray:
        """Water-equivalent path through the torso: neck, shoulders, chest and upper abdomen."""
        s = self.scale
        half_width = (58.0 + 94.0 * smoothstep(-185.0, -125.0, Y / s) + 22.0 * smoothstep(-120.0, 60.0, Y / s)) * s
        depth = (120.0 + 95.0 * smoothstep(-190.0, -120.0, Y / s)) * s
        return depth * np.sqrt(np.clip(1.0 - (X / half_width) ** 2, 0.0, 1.0))

    def inside_lung(self, points: np.ndarray) -> np.ndarray:
        air = self.lung_air(points[:, 0], points[:, 1])
        return air > 70.0 * self.scale

    def _ribs(self) -> list[tuple[Tubes, float]]:
        s = self.scale
        ribs = []
        t = np.linspace(0.0, 1.0, 14)
        for level in range(10):
            y0 = (-158.0 + 25.0 * level) * s
            reach = (70.0 + 70.0 * min(level / 3.0, 1.0) + 6.0 * level / 9.0) * s
            for side in (-1, 1):
                # Posterior ribs leave the spine, rise a little, then curve down the lateral wall.
                x = side * (14.0 * s + reach * t)
                y = y0 - 16.0 * s * np.sin(math.pi * t * 0.8) + 38.0 * s * np.maximum(t - 0.55, 0.0) ** 2 / 0.2
                ribs.append(
                    (
                        Tubes.from_polyline(np.stack([x, y, np.zeros_like(t)], axis=1), 5.5 * s),
                        1.0,
                    )
                )
        for level in range(7):
            ya = (-128.0 + 27.0 * level) * s
            for side in (-1, 1):
                # Anterior ribs run from the lateral wall down and medially to their cartilages.
                x = side * (150.0 - 105.0 * t) * s
                y = ya + 55.0 * s * t - 14.0 * s * np.sin(math.pi * t)
                ribs.append(
                    (
                        Tubes.from_polyline(np.stack([x, y, np.zeros_like(t)], axis=1), 4.5 * s),
                        0.55,
                    )
                )
        for side in (-1, 1):
            x = side * (16.0 + 140.0 * t) * s
            y = (-138.0 - 20.0 * t + 7.0 * np.sin(2.0 * math.pi * t)) * s
            ribs.append(
                (
                    Tubes.from_polyline(np.stack([x, y, np.zeros_like(t)], axis=1), 8.0 * s),
                    1.2,
                )
            )
        return ribs

    def vessels(self, rng: np.random.Generator) -> list[Tubes]:
        """Two overlapping trees per lung: arteries and veins (and front and back) superimpose."""
        trees = []
        for _ in range(2):
            for side, hilum in self.hila.items():
                directions = [
                    (side * math.cos(angle), math.sin(angle), 0.0)
                    for angle in np.linspace(-1.35, 1.45, 8) + rng.uniform(-0.15, 0.15)
                ]
                trees.append(
                    grow_tree(
                        rng,
                        hilum,
                        directions,
                        self.inside_lung,
                        radius=5.0 * self.scale,
                        generations=7,
                        first_length=30.0,
                        taper=0.75,
                        spread=0.45,
                    )
                )
        return trees

    def water_path(
        self,
        grid: Grid,
        rng: np.random.Generator,
        nodule: tuple[float, float, float] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Water-equivalent thickness image (mm) and the body mask."""
        s = self.scale
        X, Y = grid.x[None, :], grid.y[:, None]
        body = self.body_path(X, Y)
        path = body - self.lung_air(X, Y)
        trachea = Tubes.concatenate(
            [
                Tubes.from_polyline([(3.0 * s, -215.0 * s, 0.0), (4.0 * s, -72.0 * s, 0.0)], 8.5 * s),
                Tubes.from_polyline([(4.0 * s, -72.0 * s, 0.0), (-34.0 * s, -42.0 * s, 0.0)], 6.0 * s),
                Tubes.from_polyline([(4.0 * s, -72.0 * s, 0.0), (40.0 * s, -38.0 * s, 0.0)], 5.5 * s),
            ]
        )
        add_tube_chords(path, grid, trachea, -0.9)
        for level in range(15):
            y = (-200.0 + 25.0 * level) * s
            _add_vertebra(path, grid, y, 20.0 * s + level * 0.3, 10.0 * s)
            for side in (-1, 1):
                add_ellipsoid_chord(
                    path,
                    grid,
                    side * 14.0 * s,
                    y - 3.0 * s,
                    4.0 * s,
                    5.5 * s,
                    5.0,
                    BONE_EXCESS,
                )
                add_ellipsoid_chord(
                    path,
                    grid,
                    side * 14.0 * s,
                    y - 3.0 * s,
                    2.6 * s,
                    4.0 * s,
                    5.0,
                    -BONE_EXCESS,
                )
            add_ellipsoid_chord(path, grid, 0.0, y + 6.0 * s, 2.5 * s, 6.0 * s, 6.0, BONE_EXCESS * 0.6)
        for side in (-1, 1):
            add_ellipsoid_chord(path, grid, side * 52.0 * s, -20.0 * s, 14.0 * s, 28.0 * s, 16.0, 1.0)
        # Gas in the gastric fundus under the left dome.
        add_ellipsoid_chord(
            path,
            grid,
            66.0 * s,
            self.domes[1][1] + 32.0 * s,
            34.0 * s,
            20.0 * s,
            40.0,
            -1.0,
        )
        for tubes, weight in self.ribs:
            add_tube_chords(path, grid, tubes, BONE_EXCESS * weight)
            add_tube_chords(
                path,
                grid,
                tubes.scaled_radii(1.0, -1.6 * s),
                -BONE_EXCESS * weight * 0.55,
            )
        for side in (-1, 1):
            add_ellipsoid_chord(
                path,
                grid,
                side * 150.0 * s,
                -95.0 * s,
                42.0 * s,
                78.0 * s,
                9.0,
                BONE_EXCESS,
                angle=side * 0.2,
            )
            add_ellipsoid_chord(path, grid, side * 215.0 * s, -100.0 * s, 40.0 * s, 150.0 * s, 90.0, 1.0)
        if self.female:
            # Breasts: denser towards their sharp lower contour, fading out upwards.
            fade = smoothstep(-40.0 * s, 60.0 * s, Y)
            for side in (-1, 1):
                path += 38.0 * fade * ellipsoid_chord(X, Y, side * 98.0 * s, 70.0 * s, 80.0 * s, 58.0 * s, 1.0)
        for tree in self.vessels(rng):
            add_tube_chords(path, grid, tree, 1.3)
        if nodule is not None:
            x, y, radius = nodule
            # A solid nodule a little denser than water, so that it stands out of the rib and
            # vessel clutter about as well as the ones a reader reports on a radiograph.
            add_ellipsoid_chord(path, grid, x, y, radius, radius, 2.0 * radius, NODULE_DENSITY)
        return path, (body > 1.0).astype(FLOAT)

    def place_nodule(self, rng: np.random.Generator) -> tuple[float, float, float]:
        (hx, hy), (ha, hb), angle = self.heart
        for _ in range(2000):
            side = int(rng.choice((-1, 1)))
            (cx, cy), (a, b) = self.lungs[0 if side < 0 else 1]
            x = cx + a * float(rng.uniform(-0.7, 0.7))
            y = cy + b * float(rng.uniform(-0.75, 0.55))
            radius = float(rng.uniform(5.0, 12.5))
            ring = np.array(
                [
                    [
                        x + radius * 1.6 * math.cos(t),
                        y + radius * 1.6 * math.sin(t),
                        0.0,
                    ]
                    for t in np.linspace(0, 2 * math.pi, 12, endpoint=False)
                ]
            )
            far_from_hila = all(math.hypot(x - h[0], y - h[1]) > 45.0 for h in self.hila.values())
            heart = float(ellipsoid_chord(np.array(x), np.array(y), hx, hy, ha + 10.0, hb + 10.0, 1.0, angle))
            if far_from_hila and heart == 0.0 and self.inside_lung(np.vstack([[x, y, 0.0], ring])).all():
                return x, y, radius
        raise RuntimeError("could not place a nodule in the lung fields")


def chest_xray(
    *,
    size: int = 2048,
    seed: int = 1,
    site_code: str = "ANSEONG",
    patient: Patient | None = None,
    order: StudyOrder | None = None,
    nodule: bool = True,
    photometric: str | None = None,
) -> DemoStudy:
    """A PA chest radiograph of size x size pixels on a 41 cm detector, 12-bit, with one
    pulmonary nodule unless `nodule` is False. The site decides MONOCHROME1/2 unless given."""
    rng = np.random.default_rng([seed, 201])
    patient = patient or default_patient(seed, site_code, sex="M", age_years=59)
    order = order or default_order(seed, site_code, days_ago=3, hour=9)
    photometric = photometric or site_for(site_code).chest_xray_photometric
    header = StudyHeader(
        seed=seed,
        site_code=site_code,
        patient=patient,
        order=order,
        description="XR Chest PA",
    )
    phantom = ChestRadiographPhantom(rng, female=patient.sex == "F")
    planted = phantom.place_nodule(rng) if nodule else None

    imager_spacing = DETECTOR_MM / size
    grid = Grid.centred(size, size, imager_spacing / MAGNIFICATION)
    path, body = phantom.water_path(grid, rng, planted)
    signal = expose(rng, WATER_ATTENUATION * path, photons=60000.0)
    presentation = process(
        signal,
        body,
        grid.spacing,
        equalisation=0.55,
        equalisation_mm=30.0,
        sharpening=1.2,
        sharpening_mm=1.6,
        low=0.5,
        high=99.7,
    )
    series = header.series(
        1,
        modality="DX",
        description="Chest PA",
        body_part="CHEST",
        station_suffix="DR01",
        model_name="SynthDR 43",
    )
    dataset = header.instance(series, 1, DX_FOR_PRESENTATION)
    dx_attributes(
        dataset,
        imager_spacing=imager_spacing,
        magnification=MAGNIFICATION,
        photometric=photometric,
        source_to_detector=1800.0,
        kvp=120,
        exposure_uas=2500,
        body_part="CHEST",
    )
    dataset.ViewPosition = "PA"
    dataset.PositionerType = "COLUMN"
    dataset.ImageLaterality = "U"
    dataset.PatientOrientation = ["L", "F"]
    dataset.AnatomicRegionSequence = anatomic_region("43799004", "Chest")
    dataset.ViewCodeSequence = [code_item("399348003", "SCT", "postero-anterior")]
    dataset.ViewCodeSequence[0].ViewModifierCodeSequence = []
    dataset.AcquisitionDeviceProcessingDescription = "CHEST PA, edge enhancement"
    dataset.Grid = ["FOCUSED", "RECIPROCATING"]
    set_pixel_data(
        dataset,
        to_pixels(presentation, photometric),
        bits_stored=BITS_STORED,
        photometric=photometric,
    )

    lesions = []
    if planted is not None:
        x, y, radius = planted
        column, row = grid.to_pixel(x, y)
        lesions.append(
            Lesion(
                kind="lung_nodule",
                series_instance_uid=series.uid,
                sop_instance_uid=dataset.SOPInstanceUID,
                centre_voxel=(round(column, 2), round(row, 2)),
                centre_mm=None,
                diameter_mm=round(2.0 * radius, 1),
                measure={
                    "side": "left" if x > 0 else "right",
                    "zone": _zone(y, phantom),
                },
            )
        )
    return DemoStudy(
        site_code,
        "lung",
        header.study_instance_uid,
        patient.patient_id,
        [dataset],
        lesions,
    )


def _add_vertebra(path: np.ndarray, grid: Grid, y: float, half_width: float, half_height: float) -> None:
    """A vertebral body seen front-on: a rounded rectangle, denser at its end plates."""
    window = grid.window(
        -half_width - 2.0,
        half_width + 2.0,
        y - half_height - 2.0,
        y + half_height + 2.0,
    )
    if window is None:
        return
    X, Y = grid.local(window)
    shape = 1.0 - (X / half_width) ** 4 - ((Y - y) / half_height) ** 4
    body = np.sqrt(np.clip(shape, 0.0, 1.0))
    rim = np.clip(1.0 - np.abs(np.abs(Y - y) - half_height + 1.5) / 1.5, 0.0, 1.0) * (shape > 0)
    path[window] += BONE_EXCESS * (8.0 * body + 6.0 * rim)


def _zone(y: float, phantom: ChestRadiographPhantom) -> str:
    top, bottom = -150.0 * phantom.scale, phantom.domes[0][1]
    third = (y - top) / (bottom - top)
    return "upper" if third < 1.0 / 3.0 else ("middle" if third < 2.0 / 3.0 else "lower")
