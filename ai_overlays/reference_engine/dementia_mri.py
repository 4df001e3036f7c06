"""Global atrophy on T1 brain MRI, measured on the ventricles: the share of cerebrospinal fluid
(dark) in a fixed box round the centre of the head, where the lateral and third ventricles lie.
Atrophy widens them, so the share rises with the grade; it is a measure, not a lesion, hence a
study-level finding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class AtrophyMeasure:
    central_csf_fraction: float  # dark share of the central box
    central_csf_ml: float
    score: float  # 0-100
    centre: tuple[float, float, float]  # (slice, row, column) of the box centre


# Half sizes (mm) of the central box: left-right, front-back, up-down.
BOX_HALF_MM = (28.0, 40.0, 22.0)
# Dark shares measured on the demo generator: no atrophy about NORMAL, severe about SEVERE.
NORMAL_FRACTION, SEVERE_FRACTION = 0.06, 0.32


def measure_atrophy(volume: np.ndarray, spacing_mm: tuple[float, float, float]) -> AtrophyMeasure | None:
    """Atrophy measure of a (slice, row, column) T1 volume, or None without a head in it."""
    bright = float(np.percentile(volume, 99))
    if bright <= 0:
        return None
    head = volume > 0.25 * bright
    if not head.any():
        return None
    centre = ndimage.center_of_mass(head)
    slice_mm, row_mm, column_mm = spacing_mm
    half = (BOX_HALF_MM[2] / slice_mm, BOX_HALF_MM[1] / row_mm, BOX_HALF_MM[0] / column_mm)
    box = tuple(
        slice(max(int(c - h), 0), min(int(c + h) + 1, n)) for c, h, n in zip(centre, half, volume.shape, strict=True)
    )
    # Between CSF and grey matter on a T1 scale where white matter sits near the 90th percentile.
    tissue_level = 0.4 * float(np.percentile(volume[head], 90))
    crop = ndimage.median_filter(volume[box], size=3)
    dark = crop < tissue_level
    fraction = float(dark.mean())
    score = 100.0 * float(np.clip((fraction - NORMAL_FRACTION) / (SEVERE_FRACTION - NORMAL_FRACTION), 0.0, 1.0))
    return AtrophyMeasure(
        central_csf_fraction=round(fraction, 4),
        central_csf_ml=round(float(dark.sum()) * float(np.prod(spacing_mm)) / 1000.0, 1),
        score=round(score, 1),
        centre=tuple(float(c) for c in centre),
    )
