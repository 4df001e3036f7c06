"""Lung nodules on a chest radiograph: round bodies of 10-25 mm inside the lung fields. Ribs,
clavicles and vessels are long and are taken out by line openings; what remains is matched
against the projection of a sphere (disc_filter), away from the hila and apices (lung_fields)."""

from __future__ import annotations

import numpy as np

from .blobs import Candidate, local_maxima, merge_nearby
from .disc_filter import disc_response
from .line_opening import above_elongated
from .lung_fields import lung_fields, nodule_search_region
from .sampling import block_mean, to_full_resolution

WORKING_MM = 2.0
RADII_MM = (4.0, 5.5, 7.5, 10.0, 12.5)
LINE_MM = 31.0  # longer than the widest nodule
# Correlation with the disc below which nothing counts; rib crossings reach about 0.75.
SHAPE_FLOOR = 0.65
# Strength (disc height x shape) scoring 50 and 100.
REPORTED, CERTAIN = 0.03, 0.09
PER_IMAGE = 3


def detect_chest_nodules(image: np.ndarray, spacing_mm: tuple[float, float]) -> list[Candidate]:
    """Nodule candidates, centre in (row, column) of `image`, best first, scored 0-100."""
    factors = tuple(max(1, round(WORKING_MM / s)) for s in spacing_mm)
    coarse = block_mean(image, factors)
    spacing = tuple(s * f for s, f in zip(spacing_mm, factors, strict=True))
    region = nodule_search_region(lung_fields(coarse, spacing), spacing)
    if not region.any():
        return []
    response = disc_response(above_elongated(coarse, round(LINE_MM / spacing[0])), spacing, RADII_MM)
    strength = response.height * np.clip((response.correlation - SHAPE_FLOOR) / (1.0 - SHAPE_FLOOR), 0.0, 1.0)
    size = tuple(max(3, 2 * round(RADII_MM[0] / s) + 1) for s in spacing)
    points = local_maxima(strength, region, size, floor=0.2 * REPORTED)
    found = [
        Candidate(
            to_full_resolution(point, factors),
            RADII_MM[response.radius_index[tuple(point)]],
            _score(float(strength[tuple(point)])),
            f"correlation={response.correlation[tuple(point)]:.2f} height={response.height[tuple(point)]:.3f}",
        )
        for point in points
    ]
    return merge_nearby(found, spacing_mm, distance_mm=8.0)[:PER_IMAGE]


def _score(strength: float) -> float:
    reported = 50.0 * float(np.clip(strength / REPORTED, 0.0, 1.0))
    return round(reported + 50.0 * float(np.clip((strength - REPORTED) / (CERTAIN - REPORTED), 0.0, 1.0)), 1)
