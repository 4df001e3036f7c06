"""A head phantom shared by brain CT and brain MRI: the anatomy is drawn once in tissue
classes and each modality supplies its own value per tissue (HU for CT, T1 signal for MR).

Local coordinates are patient LPS millimetres with the origin near the third ventricle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .raster import (
    Grid,
    SmoothField3D,
    Tubes,
    ellipse_distance,
    ellipsoid_distance,
    ellipsoid_section,
    paint_ellipsoid,
    paint_tubes,
    ramp,
    smoothstep,
)

TISSUES = (
    "air",
    "scalp",
    "fat",
    "soft",
    "bone",
    "diploe",
    "csf",
    "grey",
    "white",
    "deep_grey",
    "falx",
    "vitreous",
    "lens",
    "calcification",
    "blood",
    "oedema",
    "cerebellum",
    "brainstem",
)

# Atrophy grade (0 normal .. 3 severe, like the global cortical atrophy scale) drives CSF spaces.
ATROPHY = {
    0: {
        "gap": 1.2,
        "sulcus": 1.0,
        "sulcal_depth": 14.0,
        "ventricles": 1.1,
        "fissure": 0.9,
    },
    1: {
        "gap": 2.2,
        "sulcus": 1.8,
        "sulcal_depth": 16.0,
        "ventricles": 1.45,
        "fissure": 1.3,
    },
    2: {
        "gap": 3.4,
        "sulcus": 2.8,
        "sulcal_depth": 19.0,
        "ventricles": 1.9,
        "fissure": 1.9,
    },
    3: {
        "gap": 4.8,
        "sulcus": 4.0,
        "sulcal_depth": 22.0,
        "ventricles": 2.4,
        "fissure": 2.6,
    },
}

CORTEX_THICKNESS = 2.6


@dataclass(frozen=True)
class Haemorrhage:
    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    angle: float
    hu: float
    lobulation: tuple[float, float]
    location: str

    @property
    def volume_ml(self) -> float:
        a, b, c = self.axes
        return 4.0 / 3.0 * math.pi * a * b * c / 1000.0


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    axes: tuple[float, float, float]
    angle: float = 0.0


class HeadPhantom:
    def __init__(self, rng: np.random.Generator, *, female: bool, atrophy_grade: int = 0):
        s = float(rng.uniform(0.95, 1.04)) * (0.96 if female else 1.0)
        self.scale = s
        self.atrophy_grade = atrophy_grade
        self.atrophy = ATROPHY[atrophy_grade]
        self.inner_centre = (0.0, 5.0 * s, 6.0)
        self.inner_axes = (68.0 * s, 87.0 * s, 78.0 * s)
        self.skull = float(rng.uniform(5.5, 7.5))
        self.scalp = float(rng.uniform(4.0, 6.5))
        # Sampled on unit directions from the brain centre: its zero set is radial sheets (sulci).
        self.sulci = SmoothField3D(rng, (-1.1, -1.1, -1.1), (1.1, 1.1, 1.1), 0.03, 0.05)
        k = self.atrophy["ventricles"]
        self.ventricles = self._ventricles(k)
        self.deep_grey = self._deep_grey(k)
        self.calcified = bool(rng.random() < 0.7)
        self.optic_nerves = Tubes.concatenate(
            [Tubes.from_polyline(self._xy([(side * 30, -62, -36), (side * 12, -22, -32)]), 2.6) for side in (-1, 1)]
        )

    def _xy(self, points) -> np.ndarray:
        array = np.asarray(points, dtype=float)
        array[:, :2] *= self.scale
        return array

    def _e(self, centre, axes, angle: float = 0.0) -> Ellipsoid:
        s = self.scale
        return Ellipsoid(
            (centre[0] * s, centre[1] * s, centre[2]),
            (axes[0] * s, axes[1] * s, axes[2]),
            angle,
        )

    def _ventricles(self, k: float) -> list[Ellipsoid]:
        # Enlargement widens the ventricles and, more gently, makes them taller and longer.
        tall = math.sqrt(k)
        parts = [
            self._e((0.0, 6.0, 2.0), (1.6 * k, 13.0, 9.0 * tall)),
            self._e((0.0, 30.0, -38.0), (6.0, 4.0, 8.0)),
        ]
        for side in (-1, 1):
            parts += [
                self._e(
                    (side * (1.5 + 4.2 * k), -18.0, 12.0),
                    (4.2 * k, 14.0 * tall, 9.0 * tall),
                    side * 0.35,
                ),
                self._e(
                    (side * (1.2 + 4.3 * k), 8.0, 22.0),
                    (4.3 * k, 24.0 * tall, 6.0 * tall + k),
                    -side * 0.08,
                ),
                self._e(
                    (side * (17.0 + 3.0 * k), 32.0, 14.0),
                    (6.0 * k, 11.0 * tall, 9.0 * tall),
                    side * 0.5,
                ),
                self._e(
                    (side * (16.0 + 2.0 * k), 48.0, 10.0),
                    (3.0 * k, 12.0 * tall, 5.0),
                    -side * 0.2,
                ),
                self._e(
                    (side * (29.0 + 2.0 * k), -2.0, -16.0),
                    (2.2 * k, 14.0, 2.5 * k),
                    -side * 0.25,
                ),
            ]
        return parts

    def _deep_grey(self, k: float) -> list[Ellipsoid]:
        parts = []
        for side in (-1, 1):
            parts += [
                self._e((side * (11.0 + 4.0 * k), -14.0, 12.0), (5.0, 9.0, 10.0), side * 0.3),
                self._e((side * 24.0, 0.0, 2.0), (5.5, 15.0, 10.0), side * 0.15),
                self._e((side * 18.0, 2.0, 0.0), (3.5, 9.0, 7.0), side * 0.15),
                self._e((side * 10.0, 14.0, 4.0), (8.5, 13.0, 9.0)),
            ]
        return parts

    def place_haemorrhage(self, rng: np.random.Generator) -> Haemorrhage:
        locations = {
            "putamen": (24.0, 0.0, 4.0),
            "thalamus": (12.0, 14.0, 6.0),
            "frontal lobe": (34.0, -42.0, 30.0),
            "parietal lobe": (36.0, 28.0, 42.0),
        }
        location = str(rng.choice(sorted(locations)))
        side = int(rng.choice((-1, 1)))
        x, y, z = locations[location]
        radius = float(rng.uniform(10.0, 19.0))
        axes = (
            radius * float(rng.uniform(0.75, 0.95)),
            radius * float(rng.uniform(1.0, 1.25)),
            radius * float(rng.uniform(0.8, 1.0)),
        )
        # Keep the clot within its hemisphere.
        x = max(x * self.scale, axes[0] * 1.15 + 6.0)
        return Haemorrhage(
            centre=(side * x, y * self.scale, z),
            axes=axes,
            angle=float(rng.uniform(-0.4, 0.4)),
            hu=float(rng.uniform(62.0, 78.0)),
            lobulation=(float(rng.uniform(0.06, 0.14)), float(rng.uniform(0.0, 6.3))),
            location=f"{'left' if side > 0 else 'right'} {location}",
        )

    def floor(self, X, Y) -> np.ndarray:
        """Height (mm) of the skull base: anterior fossa, middle fossa (deeper laterally, with the
        sella bump) and posterior fossa behind the oblique petrous ridges."""
        s = self.scale
        lateral = np.abs(X) / s
        sphenoid_ridge = (-32.0 - 0.15 * lateral) * s
        petrous_ridge = (-8.0 + 0.7 * lateral) * s
        middle = -44.0 - 10.0 * np.minimum(lateral / 50.0, 1.0) ** 2
        in_middle = smoothstep(-6.0, 6.0, Y - sphenoid_ridge)
        in_posterior = smoothstep(-5.0, 5.0, Y - petrous_ridge)
        height = -22.0 + (middle + 22.0) * in_middle
        height = height + (-60.0 - height) * in_posterior
        sella = in_middle * (1.0 - in_posterior) * np.exp(-((X / 14.0) ** 2))
        return height + 16.0 * sella

    def render_plane(
        self,
        grid: Grid,
        z: float,
        values: dict[str, float],
        haemorrhage: Haemorrhage | None = None,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """The plane at height z in the given tissue values, and the areas (mm^2) of the
        ventricles and of the intracranial space in it."""
        image = np.full(grid.shape, values["air"], dtype=np.float32)
        edge = grid.spacing
        a, b, _ = self.inner_axes
        outer = self.skull + self.scalp
        self._paint_face(image, grid, z, values)
        reach_x, reach_y = a + outer + edge, b + outer + edge
        cx, cy, _ = self.inner_centre
        window = grid.window(cx - reach_x, cx + reach_x, cy - reach_y, cy + reach_y)
        X, Y = grid.local(window)
        region = image[window]
        inner = ellipsoid_distance(X, Y, z, self.inner_centre, self.inner_axes)
        region += ramp(inner - outer, edge) * (values["scalp"] - region)
        region += ramp(inner - self.skull, edge) * (values["bone"] - region)
        diploe = ramp(np.abs(inner - self.skull / 2.0) - (self.skull / 2.0 - 1.6), edge)
        region += diploe * (values["diploe"] - region)

        floor_height = self.floor(X, Y)
        # Under a bony plate the skull base holds muscle, sinuses and orbits, not solid bone.
        below = ramp(inner + 1.5, edge) * ramp(z - (floor_height - 3.5), edge)
        region += below * (values["soft"] - region)
        self._paint_skull_base(image, grid, z, values)
        cavity = ramp(inner, edge) * ramp(floor_height - z, edge)
        region += cavity * (values["csf"] - region)
        intracranial_area = float(cavity.sum()) * edge * edge
        gap = self.atrophy["gap"]
        brain = ramp(inner + gap, edge) * ramp(floor_height + gap - z, edge)
        # Depth below the brain surface decides where cortex and sulci are.
        depth = np.minimum(-(inner + gap), z - floor_height - gap)
        field = self._sulcal_distance(X, Y, z)
        width = self.atrophy["sulcus"]
        deep = 1.0 - smoothstep(self.atrophy["sulcal_depth"] * 0.6, self.atrophy["sulcal_depth"], depth)
        grey = np.maximum(
            ramp(depth - CORTEX_THICKNESS, edge),
            ramp(field - width / 2.0 - CORTEX_THICKNESS, edge) * deep,
        )
        sulcus = ramp(field - width / 2.0, edge) * deep
        tentorium = -20.0 + 0.25 * (Y - 15.0 * self.scale)
        # Below the tentorium and behind the petrous ridges, which open forward like a V.
        petrous_ridge = (-8.0 + 0.7 * np.abs(X) / self.scale) * self.scale
        posterior_fossa = ramp(z - tentorium, edge) * smoothstep(0.0, 8.0, Y - petrous_ridge)
        cerebrum = brain * (1.0 - posterior_fossa)
        region += cerebrum * (values["white"] - region)
        region += cerebrum * grey * (values["grey"] - region)
        region += cerebrum * sulcus * (values["csf"] - region)
        self._paint_fissures(region, X, Y, z, brain, values, edge)
        self._paint_posterior_fossa(region, X, Y, z, brain * posterior_fossa, values, edge)

        for part in self.deep_grey:
            paint_ellipsoid(
                image,
                grid,
                z,
                part.centre,
                part.axes,
                values["deep_grey"],
                angle=part.angle,
            )
        ventricle_area = self._paint_ventricles(image, grid, z, values)
        if self.calcified:
            paint_ellipsoid(
                image,
                grid,
                z,
                (0.0, 30.0 * self.scale, 6.0),
                (2.5, 2.5, 2.5),
                values["calcification"],
            )
            for side in (-1, 1):
                centre = (
                    side * (17.0 + 3.0 * self.atrophy["ventricles"]) * self.scale,
                    33.0 * self.scale,
                    14.0,
                )
                paint_ellipsoid(image, grid, z, centre, (3.0, 4.0, 3.0), values["calcification"])
        if haemorrhage is not None:
            _paint_haemorrhage(image, grid, z, haemorrhage, values)
        return image, {"ventricles": ventricle_area, "intracranial": intracranial_area}

    def _paint_face(self, image: np.ndarray, grid: Grid, z: float, values: dict[str, float]) -> None:
        """Soft tissue of the face and nose in front of the skull, below the forehead."""
        if z > -8.0:
            return
        for part in (
            self._e((0.0, -62.0, -52.0), (58.0, 34.0, 40.0)),
            self._e((0.0, -96.0, -58.0), (9.0, 14.0, 22.0)),
        ):
            paint_ellipsoid(image, grid, z, part.centre, part.axes, values["soft"])

    def _paint_fissures(self, region, X, Y, z: float, brain, values, edge: float) -> None:
        s = self.scale
        # The interhemispheric fissure runs above the corpus callosum and in front of/behind it.
        callosal = ramp(
            ellipsoid_distance(X, Y, z, (0.0, 6.0 * s, 2.0), (10.0, 44.0 * s, 26.0)),
            edge,
        )
        width = self.atrophy["fissure"]
        # The fissure is not a flat plane: it meanders a little, and each medial surface has
        # its own cortical ribbon.
        midline = 1.6 * np.sin(Y / 17.0 + z / 23.0) + 0.8 * np.sin(Y / 7.0 - z / 11.0)
        across = np.abs(X - midline) - width / 2.0
        medial = (1.0 - callosal) * brain
        region += ramp(across - CORTEX_THICKNESS, edge) * medial * (values["grey"] - region)
        region += ramp(across, edge) * medial * (values["csf"] - region)
        falx = ramp(np.abs(X - midline) - 0.5, edge) * medial
        region += falx * (values["falx"] - region)
        if -22.0 < z < 18.0:
            for side in (-1, 1):
                sylvian = Ellipsoid(
                    (side * 54.0 * s, -4.0 * s, -2.0),
                    (1.0 + width / 2.0, 17.0 * s, 14.0),
                    side * 0.6,
                )
                section = ellipsoid_section(z, sylvian.centre, sylvian.axes)
                if section is not None:
                    alpha = ramp(
                        ellipse_distance(
                            X,
                            Y,
                            sylvian.centre[0],
                            sylvian.centre[1],
                            *section,
                            sylvian.angle,
                        ),
                        edge,
                    )
                    region += alpha * brain * (values["csf"] - region)

    def _sulcal_distance(self, X, Y, z: float) -> np.ndarray:
        """Approximate distance (mm) to the nearest sulcus, sulci being radial sheets."""
        cx, cy, cz = self.inner_centre
        a, b, c = self.inner_axes
        u, v, w = (X - cx) / a, (Y - cy) / b, (z - cz) / c
        norm = np.maximum(np.sqrt(u * u + v * v + w * w), 1e-6)
        field = self.sulci.sample(u / norm, v / norm, w / norm)
        radius = np.sqrt((X - cx) ** 2 + (Y - cy) ** 2 + (z - cz) ** 2)
        return np.abs(field) / self.sulci.gradient_scale * radius

    def _paint_posterior_fossa(self, region, X, Y, z: float, fossa, values, edge: float) -> None:
        s = self.scale
        # Folia: thin concentric leaves around the cerebellar centre.
        radius = np.sqrt(X**2 + ((Y - 20.0 * s) * 0.9) ** 2 + (z + 30.0) ** 2)
        folia = 0.5 + 0.5 * np.cos(radius * (2.0 * math.pi / 3.2))
        cerebellum = values["cerebellum"] + (values["csf"] - values["cerebellum"]) * 0.12 * folia
        region += fossa * (cerebellum - region)
        for centre, axes, tissue in (
            ((0.0, 14.0 * s, -36.0), (14.0 * s, 13.0 * s, 26.0), "brainstem"),
            ((0.0, 10.0 * s, -14.0), (12.0 * s, 11.0 * s, 9.0), "brainstem"),
            ((0.0, 30.0 * s, -38.0), (6.0 * s, 4.0 * s, 8.0), "csf"),
        ):
            section = ellipsoid_section(z, centre, axes)
            if section is not None:
                alpha = ramp(ellipse_distance(X, Y, centre[0], centre[1], *section), edge)
                region += alpha * (values[tissue] - region)
        if z < -26.0:
            for side in (-1, 1):
                petrous = ((side * 34.0 * s, 18.0 * s, -42.0), (30.0 * s, 7.0, 9.0))
                section = ellipsoid_section(z, *petrous)
                if section is not None:
                    alpha = ramp(
                        ellipse_distance(X, Y, petrous[0][0], petrous[0][1], *section, side * 0.7),
                        edge,
                    )
                    region += alpha * (values["bone"] - region)

    def _paint_ventricles(self, image: np.ndarray, grid: Grid, z: float, values: dict[str, float]) -> float:
        """Paint the ventricular system and return its area in this plane (mm^2)."""
        sections = []
        for part in self.ventricles:
            section = ellipsoid_section(z, part.centre, part.axes)
            if section is not None:
                sections.append((part, section))
        if not sections:
            return 0.0
        reach = max(max(section) for _, section in sections) + grid.spacing
        xs = [part.centre[0] for part, _ in sections]
        ys = [part.centre[1] for part, _ in sections]
        window = grid.window(min(xs) - reach, max(xs) + reach, min(ys) - reach, max(ys) + reach)
        if window is None:
            return 0.0
        X, Y = grid.local(window)
        union = np.zeros((Y.shape[0], X.shape[1]), dtype=np.float32)
        for part, section in sections:
            union = np.maximum(
                union,
                ramp(
                    ellipse_distance(X, Y, part.centre[0], part.centre[1], *section, part.angle),
                    grid.spacing,
                ),
            )
        region = image[window]
        region += union * (values["csf"] - region)
        return float(union.sum()) * grid.spacing * grid.spacing

    def _paint_skull_base(self, image: np.ndarray, grid: Grid, z: float, values: dict[str, float]) -> None:
        """Sinuses, orbits and mastoids: only the lowest slices reach them."""
        if not -64.0 < z < -12.0:
            return
        s = self.scale
        for centre, axes, tissue in (
            ((0.0, -64.0, -40.0), (12.0, 18.0, 14.0), "air"),
            ((0.0, -24.0, -42.0), (14.0, 12.0, 11.0), "air"),
            ((-31.0, -56.0, -36.0), (17.0, 24.0, 16.0), "fat"),
            ((31.0, -56.0, -36.0), (17.0, 24.0, 16.0), "fat"),
            ((-32.0, -70.0, -36.0), (12.0, 12.0, 12.0), "vitreous"),
            ((32.0, -70.0, -36.0), (12.0, 12.0, 12.0), "vitreous"),
            ((-32.0, -80.5, -36.0), (4.5, 2.0, 4.5), "lens"),
            ((32.0, -80.5, -36.0), (4.5, 2.0, 4.5), "lens"),
            ((-50.0, 30.0, -48.0), (11.0, 11.0, 11.0), "air"),
            ((50.0, 30.0, -48.0), (11.0, 11.0, 11.0), "air"),
        ):
            paint_ellipsoid(
                image,
                grid,
                z,
                (centre[0] * s, centre[1] * s, centre[2]),
                axes,
                values[tissue],
            )
        paint_tubes(image, grid, z, self.optic_nerves, values["white"])


def _paint_haemorrhage(image: np.ndarray, grid: Grid, z: float, clot: Haemorrhage, values: dict[str, float]) -> None:
    rim = 4.0
    section = ellipsoid_section(z, clot.centre, tuple(axis + rim for axis in clot.axes))
    if section is None:
        return
    cx, cy, _ = clot.centre
    window = grid.window(
        cx - max(section) - 2 * rim,
        cx + max(section) + 2 * rim,
        cy - max(section) - 2 * rim,
        cy + max(section) + 2 * rim,
    )
    if window is None:
        return
    X, Y = grid.local(window)
    amplitude, phase = clot.lobulation
    theta = np.arctan2(Y - cy, X - cx)
    lobes = 1.0 + amplitude * np.cos(3.0 * theta + phase) * np.cos(2.0 * theta - phase)
    shrink = float(np.sqrt(max(1.0 - ((z - clot.centre[2]) / clot.axes[2]) ** 2, 0.0)))
    core_a, core_b = clot.axes[0] * shrink, clot.axes[1] * shrink
    region = image[window]
    oedema = ramp(ellipse_distance(X, Y, cx, cy, *section, clot.angle) - rim * 0.3, grid.spacing)
    region += oedema * (values["oedema"] - region)
    if core_a > 0.0:
        distance = ellipse_distance(X, Y, cx, cy, core_a, core_b, clot.angle)
        scale = min(core_a, core_b)
        core = ramp(distance - (lobes - 1.0) * scale, grid.spacing)
        region += core * (clot.hu - region)
