"""Chest CT: a thorax phantom rendered slice by slice in Hounsfield units, with lung nodules.

Local coordinates are patient LPS millimetres (x to the patient's left, y posterior) with z = 0
at the most cranial slice and negative downwards; ImagePositionPatient adds TOP_Z_MM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
from .raster import (
    FLOAT,
    Grid,
    NoiseBank,
    Tubes,
    ellipse_distance,
    ellipsoid_section,
    paint_ellipse,
    paint_tubes,
    ramp,
    set_axial_geometry,
    smoothstep,
)
from .vessel_tree import grow_tree

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SCAN_LENGTH_MM = 300.0
TOP_Z_MM = -40.0
FIELD_OF_VIEW_MM = 360.0
RESCALE_INTERCEPT = -1024

AIR, FAT, MUSCLE, BLOOD, LIVER, SPLEEN = -1000.0, -100.0, 48.0, 40.0, 58.0, 50.0
LUNG, CORTEX, MARROW, CARTILAGE, DISC = -860.0, 700.0, 230.0, 110.0, 85.0

Z_WIDEST = -150.0  # level of the widest thorax
CAVITY_TOP = -4.0  # where the thoracic cavity closes into the neck, just above the lung apices
LUNG_APEX = -10.0
RIB_PERIOD = 21.5  # one vertebral level
FIRST_RIB_Z = -16.0


def _ellipsoid_inside(points: np.ndarray, centre, axes, angle: float = 0.0) -> np.ndarray:
    offset = points - np.asarray(centre)
    cosine, sine = math.cos(angle), math.sin(angle)
    u = offset[:, 0] * cosine + offset[:, 1] * sine
    v = offset[:, 1] * cosine - offset[:, 0] * sine
    return (u / axes[0]) ** 2 + (v / axes[1]) ** 2 + (offset[:, 2] / axes[2]) ** 2 < 1.0


def _dome_height(z, top: float):
    """1 at the widest level of the chest, falling like a sphere's section to 0 at `top`."""
    above = np.clip((np.asarray(z, dtype=float) - Z_WIDEST) / (top - Z_WIDEST), 0.0, 1.0)
    return np.sqrt(1.0 - above**2)


@dataclass(frozen=True)
class Nodule:
    centre: tuple[float, float, float]  # local mm
    radius: float
    hu: float
    lobulation: tuple[float, float, float, float]  # amplitude and phase of 3- and 5-fold lobes


class ChestPhantom:
    """One patient's thorax: sizes drawn from the seed, structures as ellipses and tubes."""

    def __init__(self, rng: np.random.Generator, *, female: bool):
        s = float(rng.uniform(0.94, 1.04)) * (0.94 if female else 1.0)
        self.scale = s
        self.female = female
        self.body_a, self.body_b = 160.0 * s, 116.0 * s
        self.fat_lateral = float(rng.uniform(12.0, 24.0))
        self.fat_ap = float(rng.uniform(9.0, 16.0))
        self.cavity_a, self.cavity_b, self.cavity_y = 128.0 * s, 88.0 * s, -6.0
        self.heart_centre = (22.0 * s, -30.0 * s, -165.0 + float(rng.uniform(-6, 6)))
        self.heart_axes = (64.0 * s, 50.0 * s, 55.0)
        self.heart_angle = -0.6  # long axis towards the left-anterior apex
        right_top = -195.0 + float(rng.uniform(-10, 10))
        self.domes = (
            ((-45.0 * s, 8.0, right_top - 130.0), (118.0 * s, 112.0 * s, 130.0), LIVER),
            ((50.0 * s, 8.0, right_top - 155.0), (106.0 * s, 100.0 * s, 130.0), 38.0),
        )
        self.spleen = ((88.0 * s, 45.0 * s, -265.0), (32.0 * s, 48.0 * s, 55.0))
        self.stomach_gas = (
            (45.0 * s, -28.0 * s, right_top - 55.0),
            (38.0 * s, 26.0 * s, 18.0),
        )
        self.spine_y = 40.0 * s
        self.great_vessels = self._great_vessels()
        self.oesophagus = Tubes.from_polyline(
            self._xy([(3, 14, -10), (6, 16, -100), (10, 18, -200), (25, 8, -250)]), 7.0
        )
        self.airways = Tubes.concatenate(
            [
                Tubes.from_polyline(self._xy([(0, -2, 15), (0, 2, -50), (0, 4, -85)]), 9.5),
                Tubes.from_polyline(self._xy([(0, 4, -85), (-22, 4, -95), (-42, 4, -106)]), 7.0),
                Tubes.from_polyline(self._xy([(0, 4, -85), (24, 6, -100), (46, 8, -116)]), 6.5),
            ]
        )
        hila = {-1: self._xy([(-48, 2, -116)])[0], 1: self._xy([(50, 6, -119)])[0]}
        self.vessels = Tubes.concatenate(
            [
                grow_tree(
                    rng,
                    hila[side],
                    self._root_directions(side),
                    self.inside_lung,
                    radius=6.0,
                    generations=8,
                    first_length=26.0,
                    taper=0.77,
                )
                for side in (-1, 1)
            ]
        )
        self.bronchi = Tubes.concatenate(
            [
                grow_tree(
                    rng,
                    hila[side],
                    self._root_directions(side)[::2],
                    self.inside_lung,
                    radius=4.0,
                    generations=3,
                )
                for side in (-1, 1)
            ]
        )
        self.ribs, self.cartilage = self._ribs()
        self._bases: dict[int, np.ndarray] = {}

    def _xy(self, points) -> np.ndarray:
        """Scale template points (mm, for an average adult) to this patient in x and y."""
        array = np.asarray(points, dtype=float)
        array[:, :2] *= self.scale
        return array

    @staticmethod
    def _root_directions(side: int) -> list[tuple[float, float, float]]:
        return [
            (0.3 * side, 0.2, 1.0),
            (0.9 * side, -0.6, 0.3),
            (0.8 * side, 0.7, 0.1),
            (0.5 * side, -0.5, -1.0),
            (0.4 * side, 0.6, -1.0),
            (1.0 * side, 0.0, -0.4),
            (0.5 * side, -0.9, 0.6),
            (0.3 * side, 0.9, -0.5),
            (0.7 * side, 0.3, 0.8),
            (0.8 * side, -0.3, -0.8),
        ]

    def _great_vessels(self) -> list[tuple[Tubes, float]]:
        polylines = [
            ([(8, -15, -180), (-2, -28, -140), (-5, -30, -100), (-3, -28, -78)], 15.0),
            (
                [
                    (-3, -28, -78),
                    (2, -22, -64),
                    (12, -5, -58),
                    (22, 12, -62),
                    (24, 24, -75),
                ],
                13.0,
            ),
            (
                [
                    (24, 24, -75),
                    (22, 28, -110),
                    (18, 26, -160),
                    (12, 22, -220),
                    (5, 18, -300),
                ],
                (12.0, 12.0, 11.5, 11.0, 11.0),
            ),
            ([(0, -22, -62), (-15, -18, -30), (-30, -12, 10)], 7.0),
            ([(8, -12, -60), (12, -8, -30), (15, -6, 10)], 4.5),
            ([(16, 2, -60), (30, 8, -35), (55, 10, -15)], 5.5),
            ([(-28, -22, -40), (-28, -24, -100), (-24, -25, -150)], 10.0),
            ([(40, -25, -20), (0, -32, -35), (-26, -24, -45)], 6.0),
            ([(15, -45, -160), (20, -35, -130), (22, -18, -108)], 14.0),
            ([(22, -18, -108), (38, -2, -100), (48, 5, -108)], 10.0),
            ([(22, -18, -108), (0, -12, -112), (-25, -8, -114), (-45, 0, -116)], 10.0),
            ([(-45, 10, -130), (-20, 15, -150), (5, 18, -158)], 7.0),
            ([(45, 10, -135), (25, 15, -150), (10, 18, -158)], 7.0),
            ([(-15, 10, -210), (-18, 15, -300)], 11.0),
        ]
        return [(Tubes.from_polyline(self._xy(points), radii), BLOOD) for points, radii in polylines]

    def _ribs(self) -> tuple[Tubes, Tubes]:
        drops = (30, 55, 70, 80, 85, 85, 85, 80, 70, 60, 35, 25)
        ends = (2.5, 2.65, 2.7, 2.7, 2.7, 2.7, 2.65, 2.45, 2.3, 2.2, 1.7, 1.4)
        bones, cartilages = [], []
        for level in range(12):
            z0 = FIRST_RIB_Z - RIB_PERIOD * level
            for side in (-1, 1):
                psi = np.linspace(0.32, ends[level], 18)
                fraction = (psi - psi[0]) / (psi[-1] - psi[0])
                z = z0 - drops[level] * fraction**1.4
                a, b = self.cavity_axes(z)
                points = np.stack(
                    [
                        side * (a + 7.0) * np.sin(psi),
                        self.cavity_y + (b + 7.0) * np.cos(psi),
                        z,
                    ],
                    axis=1,
                )
                neck = np.array([[side * 20.0 * self.scale, self.spine_y + 26.0, z0 + 2.0]])
                points = np.concatenate([neck, points])
                radius = 5.0 if level == 0 else 4.3
                if level < 10:
                    joint = len(points) - 5
                    bones.append(Tubes.from_polyline(points[: joint + 1], radius))
                    cartilage = points[joint:]
                    if level < 7:
                        sternum_y = self.cavity_y - float(self.cavity_axes(cartilage[-1, 2])[1]) - 4.0
                        cartilage = np.concatenate(
                            [
                                cartilage,
                                [[side * 16.0, sternum_y, cartilage[-1, 2] - 4.0]],
                            ]
                        )
                    cartilages.append(Tubes.from_polyline(cartilage, 4.6))
                else:
                    bones.append(Tubes.from_polyline(points, radius))
        return Tubes.concatenate(bones), Tubes.concatenate(cartilages)

    def cavity_axes(self, z):
        """Semi-axes of the thoracic cavity inside the ribs; it narrows towards the inlet."""
        # Tracks the lung apices so the first ribs hug them instead of enclosing mediastinal fat.
        girth = 0.2 + 0.8 * _dome_height(z, CAVITY_TOP)
        return self.cavity_a * girth, self.cavity_b * (0.75 + 0.25 * girth)

    def lung_ellipse(self, z, side: int):
        a_c, b_c = self.cavity_axes(z)
        height = _dome_height(z, LUNG_APEX)
        # Apices sit posteriorly, hence the shift as the section shrinks.
        centre_y = self.cavity_y + 4.0 + 25.0 * (1.0 - height)
        # Generous ellipses: clipped by the cavity they fill each half of it except at the apex.
        return (
            side * a_c * 0.5,
            centre_y,
            np.maximum(a_c * 0.6 * height, 1e-3),
            np.maximum(b_c * 1.08 * height, 1e-3),
        )

    def mediastinum(self, z) -> tuple[float, float, float, float]:
        """The ellipse between the lungs: a full-depth column above the heart, only the strip in
        front of the spine (oesophagus, aorta) beside it, where the heart itself is excluded."""
        lower = float(smoothstep(-115.0, -150.0, z))
        centre_y = -22.0 + lower * 42.0
        half_width = 26.0 - lower * 2.0
        half_depth = 72.0 - lower * 46.0
        return (
            0.0,
            centre_y * self.scale,
            half_width * self.scale,
            half_depth * self.scale,
        )

    def spine_block(self) -> tuple[float, float, float, float]:
        return 0.0, self.spine_y + 8.0, 30.0 * self.scale, 42.0 * self.scale

    def inside_lung(self, points: np.ndarray) -> np.ndarray:
        """Whether 3D points (n, 3) lie in either lung, away from the mediastinum and diaphragm."""
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        a_c, b_c = self.cavity_axes(z)
        inside = (x / (a_c - 3.0)) ** 2 + ((y - self.cavity_y) / (b_c - 3.0)) ** 2 < 1.0
        in_either = np.zeros_like(inside)
        for side in (-1, 1):
            cx, cy, la, lb = self.lung_ellipse(z, side)
            in_either |= ((x - cx) / la) ** 2 + ((y - cy) / lb) ** 2 < 0.92
        inside &= in_either
        for mx, my, ma, mb in (
            self.mediastinum(float(np.median(z))),
            self.spine_block(),
        ):
            inside &= ((x - mx) / (ma + 3.0)) ** 2 + ((y - my) / (mb + 3.0)) ** 2 > 1.0
        heart_axes = tuple(axis + 6.0 for axis in self.heart_axes)
        inside &= ~_ellipsoid_inside(points, self.heart_centre, heart_axes, self.heart_angle)
        for centre, axes, _ in self.domes:
            inside &= ~_ellipsoid_inside(points, centre, tuple(axis + 4.0 for axis in axes))
        return inside

    def base(self, grid: Grid) -> np.ndarray:
        """Air, table and body wall: the parts that do not change from slice to slice."""
        key = id(grid)
        if key not in self._bases:
            image = np.full(grid.shape, AIR, dtype=FLOAT)
            X, Y = grid.x[None, :], grid.y[:, None]
            # A curved carbon-fibre table top with a foam core, under the patient's back.
            depth = Y - (self.body_b + 4.0 - 0.0008 * X * X)
            shell = ((depth >= 0) & (depth < 2.5)) | ((depth >= 14.5) & (depth < 17.0))
            image[(depth >= 2.5) & (depth < 14.5)] = -880.0
            image[shell] = 250.0
            if self.female:
                for side in (-1, 1):
                    paint_ellipse(
                        image,
                        grid,
                        side * 78.0 * self.scale,
                        -self.body_b + 4.0,
                        62.0,
                        40.0,
                        FAT,
                    )
            paint_ellipse(image, grid, 0.0, 0.0, self.body_a, self.body_b, FAT)
            paint_ellipse(
                image,
                grid,
                0.0,
                2.0,
                self.body_a - self.fat_lateral,
                self.body_b - self.fat_ap,
                MUSCLE,
            )
            if self.female:
                for side in (-1, 1):
                    paint_ellipse(
                        image,
                        grid,
                        side * 80.0 * self.scale,
                        -self.body_b - 8.0,
                        34.0,
                        11.0,
                        25.0,
                    )
            self._bases[key] = image
        return self._bases[key]

    def render_plane(self, grid: Grid, z: float, nodules: list[Nodule]) -> np.ndarray:
        image = self.base(grid).copy()
        edge = grid.spacing
        a_c, b_c = (float(value) for value in self.cavity_axes(z))
        window = grid.window(
            -a_c - edge,
            a_c + edge,
            self.cavity_y - b_c - edge,
            self.cavity_y + b_c + edge,
        )
        X, Y = grid.local(window)
        region = image[window]
        cavity = ramp(ellipse_distance(X, Y, 0.0, self.cavity_y, a_c, b_c), edge)
        # Mediastinal fat lower down; at the inlet the space round the apices is mostly
        # muscle, vessels and thyroid.
        inlet = float(smoothstep(-70.0, -25.0, z))
        region += cavity * (FAT + inlet * (MUSCLE - 10.0 - FAT) - region)

        excluded = np.zeros_like(cavity)
        for centre, axes, value in self.domes:
            section = ellipsoid_section(z, centre, axes)
            if section is not None:
                dome = ramp(ellipse_distance(X, Y, centre[0], centre[1], *section), edge) * cavity
                region += dome * (value - region)
                excluded = np.maximum(excluded, dome)
        for (centre, axes), value in ((self.spleen, SPLEEN), (self.stomach_gas, AIR)):
            section = ellipsoid_section(z, centre, axes)
            if section is not None:
                organ = ramp(ellipse_distance(X, Y, centre[0], centre[1], *section), edge) * cavity
                region += organ * (value - region)

        heart_section = ellipsoid_section(z, self.heart_centre, tuple(axis + 4.0 for axis in self.heart_axes))
        if heart_section is not None:
            hx, hy = self.heart_centre[:2]
            pericardial_fat = ramp(ellipse_distance(X, Y, hx, hy, *heart_section, self.heart_angle), edge)
            region += pericardial_fat * (-90.0 - region)
            inner = ellipsoid_section(z, self.heart_centre, self.heart_axes)
            if inner is not None:
                heart = ramp(ellipse_distance(X, Y, hx, hy, *inner, self.heart_angle), edge)
                region += heart * (BLOOD + 2.0 - region)
            excluded = np.maximum(excluded, pericardial_fat)

        lungs = np.zeros_like(cavity)
        for side in (-1, 1):
            cx, cy, la, lb = (float(value) for value in self.lung_ellipse(z, side))
            if la > 1.0:
                lungs = np.maximum(lungs, ramp(ellipse_distance(X, Y, cx, cy, la, lb), edge))
        for mx, my, ma, mb in (self.mediastinum(z), self.spine_block()):
            lungs *= 1.0 - ramp(ellipse_distance(X, Y, mx, my, ma, mb), edge)
        lungs *= cavity * (1.0 - excluded)
        # Dependent (posterior) lung is denser in a supine patient.
        region += lungs * (LUNG + 0.35 * (Y - self.cavity_y) - region)

        for tubes, value in self.great_vessels:
            paint_tubes(image, grid, z, tubes, value)
        paint_tubes(image, grid, z, self.oesophagus, 35.0, core_value=-950.0, wall=5.5)
        paint_tubes(image, grid, z, self.vessels, BLOOD)
        paint_tubes(image, grid, z, self.bronchi, 10.0, core_value=AIR, wall=1.3)
        paint_tubes(image, grid, z, self.airways, 30.0, core_value=AIR, wall=2.0)
        self._paint_bones(image, grid, z)
        for nodule in nodules:
            _paint_nodule(image, grid, z, nodule)
        return image

    def _paint_bones(self, image: np.ndarray, grid: Grid, z: float) -> None:
        s = self.scale
        a_c, b_c = (float(value) for value in self.cavity_axes(z))
        radius = (15.0 + 5.0 * min(max(-z / SCAN_LENGTH_MM, 0.0), 1.0)) * s
        spine_y = self.spine_y
        disc_centre = FIRST_RIB_Z - RIB_PERIOD / 2.0
        to_disc = abs((z - disc_centre + RIB_PERIOD / 2.0) % RIB_PERIOD - RIB_PERIOD / 2.0)
        if to_disc < 2.3:
            paint_ellipse(image, grid, 0.0, spine_y, radius * 1.05, radius * 0.9, DISC)
        else:
            paint_ellipse(image, grid, 0.0, spine_y, radius * 1.05, radius * 0.9, CORTEX)
            paint_ellipse(
                image,
                grid,
                0.0,
                spine_y,
                radius * 1.05 - 1.6,
                radius * 0.9 - 1.6,
                MARROW,
            )
        canal_y = spine_y + radius * 0.9 + 9.0
        for side in (-1, 1):
            paint_ellipse(
                image,
                grid,
                side * 24.0 * s,
                canal_y - 3.0,
                13.0 * s,
                5.0,
                600.0,
                angle=side * 0.3,
            )
        paint_ellipse(image, grid, 0.0, canal_y + 24.0, 4.0, 13.0, 600.0)
        paint_ellipse(image, grid, 0.0, canal_y, 15.0, 12.0, 600.0)
        paint_ellipse(image, grid, 0.0, canal_y, 9.0, 8.0, 15.0)
        paint_ellipse(image, grid, 0.0, canal_y, 5.0, 4.5, 35.0)

        if -215.0 < z < -50.0:
            half_width, half_depth = (20.0, 7.0) if z > -95.0 else ((6.0, 4.0) if z < -200.0 else (13.0, 6.0))
            sternum_y = self.cavity_y - b_c - 5.0
            paint_ellipse(image, grid, 0.0, sternum_y, half_width * s, half_depth, CORTEX)
            paint_ellipse(
                image,
                grid,
                0.0,
                sternum_y,
                half_width * s - 1.5,
                half_depth - 1.5,
                MARROW,
            )

        if -150.0 < z < -18.0:
            fraction = (z + 18.0) / -132.0
            half_length = 48.0 * (1.0 - 0.75 * fraction) * s
            psi = 0.95
            for side in (-1, 1):
                ax, by = a_c + 16.0, b_c + 16.0
                cx, cy = side * ax * math.sin(psi), self.cavity_y + by * math.cos(psi)
                angle = math.atan2(-by * math.sin(psi), side * ax * math.cos(psi))
                paint_ellipse(image, grid, cx, cy, half_length, 2.6, 550.0, angle=angle)

        paint_tubes(image, grid, z, self.ribs, CORTEX, core_value=MARROW, wall=1.4)
        paint_tubes(image, grid, z, self.cartilage, CARTILAGE)


def _paint_nodule(image: np.ndarray, grid: Grid, z: float, nodule: Nodule) -> None:
    cx, cy, cz = nodule.centre
    dz = z - cz
    reach = nodule.radius * 1.2 + grid.spacing
    if abs(dz) > reach:
        return
    window = grid.window(cx - reach, cx + reach, cy - reach, cy + reach)
    if window is None:
        return
    X, Y = grid.local(window)
    dx, dy = X - cx, Y - cy
    distance = np.sqrt(dx * dx + dy * dy + dz * dz)
    theta = np.arctan2(dy, dx)
    elevation = dz / max(nodule.radius, 1e-3)
    a3, p3, a5, p5 = nodule.lobulation
    lobes = 1.0 + a3 * np.cos(3.0 * theta + p3 + 2.0 * elevation) + a5 * np.cos(5.0 * theta + p5)
    alpha = ramp(distance - nodule.radius * lobes, grid.spacing)
    region = image[window]
    region += alpha * (nodule.hu - region)


def _place_nodules(rng: np.random.Generator, phantom: ChestPhantom, count: int) -> list[Nodule]:
    nodules: list[Nodule] = []
    directions = rng.standard_normal((26, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    attempts = 0
    while len(nodules) < count and attempts < 2000:
        attempts += 1
        radius = float(rng.uniform(3.0, 10.0))
        side = int(rng.choice((-1, 1)))
        z = float(rng.uniform(-235.0, -45.0))
        cx, cy, la, lb = (float(value) for value in phantom.lung_ellipse(z, side))
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        reach = float(rng.uniform(0.25, 0.85))
        centre = np.array([cx + la * reach * math.cos(angle), cy + lb * reach * math.sin(angle), z])
        shell = centre + directions * (radius + 4.0)
        if not phantom.inside_lung(np.vstack([centre, shell])).all():
            continue
        if any(np.linalg.norm(centre - np.array(other.centre)) < other.radius + radius + 15.0 for other in nodules):
            continue
        lobulation = (
            float(rng.uniform(0.03, 0.12)),
            float(rng.uniform(0, 6.3)),
            float(rng.uniform(0.0, 0.06)),
            float(rng.uniform(0, 6.3)),
        )
        nodules.append(
            Nodule(
                tuple(float(v) for v in centre),
                radius,
                float(rng.uniform(20.0, 40.0)),
                lobulation,
            )
        )
    return nodules


def _lobe(nodule: Nodule) -> str:
    x, y, z = nodule.centre
    if x > 0:
        return "LUL" if z > -150.0 else "LLL"
    if z > -125.0:
        return "RUL"
    return "RML" if (z > -185.0 and y < -20.0) else "RLL"


def render_slices(
    phantom: ChestPhantom,
    grid: Grid,
    centres: np.ndarray,
    thickness: float,
    nodules: list[Nodule],
):
    """Yield each slice in HU, averaging thin sub-planes across the slab for partial volume."""
    planes = int(min(3, max(1, round(thickness / 1.5))))
    offsets = (np.arange(planes) - (planes - 1) / 2.0) * (thickness / planes)
    for z in centres:
        image = phantom.render_plane(grid, float(z + offsets[0]), nodules)
        for offset in offsets[1:]:
            image += phantom.render_plane(grid, float(z + offset), nodules)
        if planes > 1:
            image *= 1.0 / planes
        yield image


def chest_ct(
    *,
    slices: int = 300,
    size: int = 512,
    seed: int = 1,
    site_code: str = "ANSEONG",
    patient: Patient | None = None,
    order: StudyOrder | None = None,
    nodule_count: int | None = None,
) -> DemoStudy:
    """A non-contrast chest CT covering 300 mm in `slices` axial images of size x size pixels,
    with `nodule_count` solid nodules (1-3 drawn from the seed when None, 0 for a normal study)."""
    rng = np.random.default_rng([seed, 101])
    patient = patient or default_patient(seed, site_code, sex="M", age_years=64)
    order = order or default_order(seed, site_code, days_ago=1, hour=11)
    header = StudyHeader(
        seed=seed,
        site_code=site_code,
        patient=patient,
        order=order,
        description="CT Chest without contrast",
    )
    phantom = ChestPhantom(rng, female=patient.sex == "F")
    if nodule_count is None:
        nodule_count = int(rng.integers(1, 4))
    nodules = _place_nodules(rng, phantom, nodule_count)

    spacing = FIELD_OF_VIEW_MM / size
    grid = Grid.centred(size, size, spacing)
    thickness = SCAN_LENGTH_MM / slices
    centres = -thickness * (np.arange(slices) + 0.5)
    series = header.series(
        2,
        modality="CT",
        description=f"Chest {thickness:.1f}mm Lung",
        body_part="CHEST",
        station_suffix="CT01",
        model_name="SynthCT 128",
        with_frame_of_reference=True,
        protocol_name="Chest routine",
    )
    noise = NoiseBank(np.random.default_rng([seed, 102]), grid.shape)
    # Thicker slices average more photons: noise falls as 1/sqrt(thickness).
    sigma = float(np.clip(20.0 / math.sqrt(thickness), 8.0, 20.0))
    datasets = []
    for index, hu in enumerate(render_slices(phantom, grid, centres, thickness, nodules)):
        hu += noise.draw() * sigma
        z = TOP_Z_MM + float(centres[index])
        dataset = header.instance(series, index + 1, CT_IMAGE_STORAGE)
        _ct_attributes(dataset, grid, z, thickness)
        set_pixel_data(
            dataset,
            to_stored(hu - RESCALE_INTERCEPT, low=0, high=4095, dtype=np.int16),
            bits_stored=16,
        )
        datasets.append(dataset)

    lesions = []
    for nodule in nodules:
        x, y, z = nodule.centre
        column, row = grid.to_pixel(x, y)
        slice_index = (-z / thickness) - 0.5
        nearest = int(np.clip(round(slice_index), 0, slices - 1))
        lesions.append(
            Lesion(
                kind="lung_nodule",
                series_instance_uid=series.uid,
                sop_instance_uid=datasets[nearest].SOPInstanceUID,
                centre_voxel=(round(column, 2), round(row, 2), round(slice_index, 2)),
                centre_mm=(round(x, 2), round(y, 2), round(TOP_Z_MM + z, 2)),
                diameter_mm=round(2.0 * nodule.radius, 1),
                measure={
                    "hu": round(nodule.hu, 1),
                    "volume_ml": round(4.0 / 3.0 * math.pi * nodule.radius**3 / 1000.0, 3),
                    "lobe": _lobe(nodule),
                    "solid": True,
                },
            )
        )
    return DemoStudy(
        site_code,
        "lung",
        header.study_instance_uid,
        patient.patient_id,
        datasets,
        lesions,
    )


def _ct_attributes(dataset, grid: Grid, z: float, thickness: float) -> None:
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    set_axial_geometry(dataset, grid, z, thickness)
    dataset.KVP = 120
    dataset.XRayTubeCurrent = 160
    dataset.ExposureTime = 500
    dataset.Exposure = 80
    dataset.ConvolutionKernel = "LUNG"
    dataset.ReconstructionDiameter = FIELD_OF_VIEW_MM
    dataset.DataCollectionDiameter = 500
    dataset.DistanceSourceToDetector = 1040
    dataset.DistanceSourceToPatient = 570
    dataset.GantryDetectorTilt = 0
    dataset.TableHeight = 160
    dataset.RotationDirection = "CW"
    dataset.SpiralPitchFactor = 1.0
    dataset.CTDIvol = 6.2
    dataset.CTDIPhantomTypeCodeSequence = [code_item("113691", "DCM", "IEC Body Dosimetry Phantom")]
    dataset.AcquisitionNumber = 1
    dataset.RescaleIntercept = RESCALE_INTERCEPT
    dataset.RescaleSlope = 1
    dataset.RescaleType = "HU"
    dataset.WindowCenter = -600
    dataset.WindowWidth = 1500
    dataset.WindowCenterWidthExplanation = "LUNG"
