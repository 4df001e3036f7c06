"""Lung nodules on a chest radiograph: round blobs of 10-25 mm inside the dark lung fields. Ribs
and vessels overlap them, so this first-order detector misses many; its scores stay modest."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate
from .radiograph_blobs import detect_blobs

RADII_MM = (5.0, 7.5, 10.5)
NOTHING, REPORTED = 1.5, 3.5


def lung_fields(image: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """The darkest third of the smoothed image (air-filled lungs), shrunk from its edges."""
    smoothed = ndimage.gaussian_filter(image, 12.0 / spacing_mm[0])
    fields = smoothed < np.percentile(smoothed, 35)
    return ndimage.binary_erosion(fields, iterations=max(1, round(6.0 / spacing_mm[0])))


def detect_chest_nodules(image: np.ndarray, spacing_mm: tuple[float, float]) -> list[Candidate]:
    found = detect_blobs(image, spacing_mm, radii_mm=RADII_MM, mask=lung_fields(image, spacing_mm), working_mm=1.0)
    return [
        Candidate(
            c.centre, c.radius_mm, round(50.0 * float(np.clip((s - NOTHING) / (REPORTED - NOTHING), 0, 2)), 1), c.label
        )
        for c, s in found[:3]
    ]
