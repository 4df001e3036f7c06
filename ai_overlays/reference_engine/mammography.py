"""Breast masses on mammograms: round dense blobs of 10-22 mm inside the breast, away from the
skin line. A first-order detector: glandular clumps can look the same, so its scores stay modest."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate
from .radiograph_blobs import detect_blobs

RADII_MM = (5.0, 7.0, 9.5)
# Blob strength (contrast x roundness) mapped onto 0-100: REPORTED scores 50.
NOTHING, REPORTED = 1.5, 3.5


def detect_masses(image: np.ndarray, spacing_mm: tuple[float, float]) -> list[Candidate]:
    """Mass candidates on one view (image in [0, 1], 1 = dense), centre in (row, column)."""
    breast = image > 0.05
    breast = ndimage.binary_erosion(breast, iterations=max(1, round(12.0 / spacing_mm[0])))
    found = detect_blobs(image, spacing_mm, radii_mm=RADII_MM, mask=breast, working_mm=0.8)
    return [_scored(candidate, strength) for candidate, strength in found[:3]]


def _scored(candidate: Candidate, strength: float) -> Candidate:
    score = 50.0 * float(np.clip((strength - NOTHING) / (REPORTED - NOTHING), 0.0, 2.0))
    return Candidate(candidate.centre, candidate.radius_mm, round(score, 1), candidate.label)
