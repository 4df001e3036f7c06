"""Lung nodules on chest CT: soft-tissue blobs inside the lungs that are round in 3D.

In one slice a vessel crossing the plane looks like a nodule; across slices it is a tube, so the
test is the Hessian of the smoothed volume at each candidate: a nodule curves down in all three
directions, a vessel in two."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate, local_maxima, merge_nearby, radial_radius, roundness, shell_fraction_below
from .sampling import block_mean, to_full_resolution

TISSUE_HU = -400.0
SCALES_MM = (1.6, 2.4, 3.6, 5.0, 7.0)
MIN_RADIUS_MM, MAX_RADIUS_MM = 2.0, 16.0
REACH_MM = 10.0


def lung_region(coarse_hu: np.ndarray, row_mm: float) -> np.ndarray:
    """Both lungs with what lies inside them: air not connected to the outside, holes filled slice
    by slice, grown in-plane by REACH_MM because a nodule touching a vessel from the hilum is no
    hole. What the growth lets in (wall, mediastinum) fails the air-shell test."""
    air = coarse_hu < TISSUE_HU
    labels, count = ndimage.label(air)
    if not count:
        return np.zeros_like(air)
    border = np.unique(
        np.concatenate(
            [labels[:, 0, :].ravel(), labels[:, -1, :].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]
        )
    )
    sizes = ndimage.sum_labels(air, labels, index=np.arange(1, count + 1))
    keep = np.zeros(count + 1, dtype=bool)
    keep[1:] = sizes >= max(0.02 * air.sum(), 50)
    keep[border] = False
    lungs = keep[labels]
    for index in range(len(lungs)):
        lungs[index] = ndimage.binary_fill_holes(lungs[index])
    in_plane = ndimage.generate_binary_structure(3, 1)
    in_plane[0] = in_plane[2] = False
    return ndimage.binary_dilation(lungs, structure=in_plane, iterations=max(1, round(REACH_MM / row_mm)))


def detect_lung_nodules(volume_hu: np.ndarray, spacing_mm: tuple[float, float, float]) -> list[Candidate]:
    """Nodule candidates, centre in (slice, row, column) index coordinates of `volume_hu`."""
    factors = (
        max(1, round(2.0 / spacing_mm[0])),
        max(1, round(1.4 / spacing_mm[1])),
        max(1, round(1.4 / spacing_mm[2])),
    )
    coarse = block_mean(np.clip(volume_hu, -1000.0, 200.0), factors)
    spacing = tuple(s * f for s, f in zip(spacing_mm, factors, strict=True))
    lungs = lung_region(coarse, spacing[1])
    if not lungs.any():
        return []
    box = tuple(
        slice(max(int(lo) - 3, 0), int(hi) + 4)
        for lo, hi in zip(*[np.argwhere(lungs).min(0), np.argwhere(lungs).max(0)], strict=True)
    )
    coarse, lungs = coarse[box], lungs[box]
    offset = np.array([b.start for b in box])
    candidates = []
    for sigma_mm in SCALES_MM:
        smoothed = ndimage.gaussian_filter(coarse, [sigma_mm / s for s in spacing], mode="nearest")
        size = tuple(max(3, 2 * round(sigma_mm / s) + 1) for s in spacing)
        points = local_maxima(smoothed, lungs, size, floor=-650.0)
        if not len(points):
            continue
        round_ = roundness(smoothed, points, spacing)
        for point, ratio in zip(points, round_, strict=True):
            if ratio < 0.4:  # planted nodules measure 0.5-1; vessels mostly below 0.35
                continue
            radius = radial_radius(coarse, tuple(point), spacing, TISSUE_HU, MAX_RADIUS_MM + 4)
            if not MIN_RADIUS_MM <= radius <= MAX_RADIUS_MM:
                continue
            air = shell_fraction_below(coarse, tuple(point), spacing, radius + 2.0, radius + 5.0, TISSUE_HU)
            score = 100.0 * float(np.clip(1.6 * ratio - 0.35, 0.0, 1.0)) * float(np.clip((air - 0.4) / 0.45, 0.0, 1.0))
            centre = to_full_resolution(point + offset, factors)
            candidates.append(
                Candidate(centre, radius, round(score, 1), f"ratio={ratio:.2f} air={air:.2f} sigma={sigma_mm}")
            )
    return merge_nearby(candidates, spacing_mm, distance_mm=6.0)
