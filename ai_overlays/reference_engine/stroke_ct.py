"""Intracranial haemorrhage on non-contrast head CT: a hyperdense (clotted blood, 55-100 HU)
volume inside the skull, away from bone and calcifications whose partial volume reaches the same
values."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate

BLOOD_HU = (58.0, 100.0)
DENSE_HU = 150.0  # bone and calcification
CLEARANCE_MM = 4.0
MIN_VOLUME_ML = 0.4


def detect_haemorrhage(volume_hu: np.ndarray, spacing_mm: tuple[float, float, float]) -> list[Candidate]:
    """Haemorrhage candidates (centre in slice, row, column index coordinates), largest first; the
    score grows with the volume: 0.4 ml scores 50, 5 ml and more about 95."""
    smoothed = ndimage.gaussian_filter(volume_hu, [0.0, 1.0 / spacing_mm[1], 1.0 / spacing_mm[2]], mode="nearest")
    blood = (smoothed >= BLOOD_HU[0]) & (smoothed <= BLOOD_HU[1])
    in_plane = ndimage.generate_binary_structure(3, 1)
    in_plane[0] = in_plane[2] = False
    near_dense = ndimage.binary_dilation(
        volume_hu > DENSE_HU, structure=in_plane, iterations=max(1, round(CLEARANCE_MM / spacing_mm[1]))
    )
    blood &= ~near_dense
    blood = ndimage.binary_opening(blood, structure=in_plane)
    labels, count = ndimage.label(blood)
    if not count:
        return []
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    indices = np.arange(1, count + 1)
    volumes = ndimage.sum_labels(blood, labels, indices) * voxel_ml
    centres = ndimage.center_of_mass(blood, labels, indices)
    candidates = []
    for volume_ml, centre in zip(volumes, centres, strict=True):
        if volume_ml < MIN_VOLUME_ML:
            continue
        radius = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        score = 50.0 + 45.0 * float(np.clip(np.log(volume_ml / MIN_VOLUME_ML) / np.log(5.0 / MIN_VOLUME_ML), 0.0, 1.0))
        candidates.append(Candidate(tuple(float(c) for c in centre), radius, round(score, 1), f"{volume_ml:.1f} ml"))
    return sorted(candidates, key=lambda c: -c.score)
