"""Lung nodules on chest CT: soft-tissue blobs inside the lungs that are round in 3D.

In one slice a vessel crossing the plane looks like a nodule; across slices it is a tube, so the
test is the Hessian of the smoothed volume at each candidate: a nodule curves down in all three
directions, a vessel in two. Every test runs on all candidates of a scale at once, and the lung
mask is found on a grid twice as coarse again, so a 300 x 512 x 512 CT takes a few seconds."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate, local_maxima, merge_nearby, radial_radii, roundness, shell_fractions_below
from .sampling import block_mean, to_full_resolution

TISSUE_HU = -400.0
SCALES_MM = (1.6, 2.4, 3.6, 5.0, 7.0)
MIN_RADIUS_MM, MAX_RADIUS_MM = 2.0, 16.0
REACH_MM = 10.0


def lung_region(coarse_hu: np.ndarray, row_mm: float) -> np.ndarray:
    """Both lungs with what lies inside them: air not connected to the outside, holes filled slice
    by slice, grown in-plane by REACH_MM because a nodule touching a vessel from the hilum is no
    hole. What the growth lets in (wall, mediastinum) fails the air-shell test. Found on a grid
    halved in-plane (the mask needs no fine edges), then taken back to `coarse_hu`'s grid."""
    half = block_mean(coarse_hu, (1, 2, 2))
    air = half < TISSUE_HU
    labels, count = ndimage.label(air)
    if not count:
        return np.zeros(coarse_hu.shape, dtype=bool)
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
    in_plane = ndimage.generate_binary_structure(3, 1)
    in_plane[0] = in_plane[2] = False
    # Filling holes with an in-plane structure fills each slice on its own, all in one call.
    lungs = ndimage.binary_fill_holes(lungs, structure=in_plane)
    lungs = ndimage.binary_dilation(lungs, structure=in_plane, iterations=max(1, round(REACH_MM / (2 * row_mm))))
    full = np.zeros(coarse_hu.shape, dtype=bool)
    grown = lungs.repeat(2, axis=1).repeat(2, axis=2)
    full[:, : grown.shape[1], : grown.shape[2]] = grown
    return full


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
        ratios = roundness(smoothed, points, spacing)
        round_enough = ratios >= 0.4  # planted nodules measure 0.5-1; vessels mostly below 0.35
        points, ratios = points[round_enough], ratios[round_enough]
        radii = radial_radii(coarse, points, spacing, TISSUE_HU, MAX_RADIUS_MM + 4)
        sized = (radii >= MIN_RADIUS_MM) & (radii <= MAX_RADIUS_MM)
        points, ratios, radii = points[sized], ratios[sized], radii[sized]
        air = shell_fractions_below(coarse, points, spacing, radii + 2.0, radii + 5.0, TISSUE_HU)
        scores = 100.0 * np.clip(1.6 * ratios - 0.35, 0.0, 1.0) * np.clip((air - 0.4) / 0.45, 0.0, 1.0)
        for point, ratio, radius, shell_air, score in zip(points, ratios, radii, air, scores, strict=True):
            candidates.append(
                Candidate(
                    to_full_resolution(point + offset, factors),
                    float(radius),
                    round(float(score), 1),
                    f"ratio={ratio:.2f} air={shell_air:.2f} sigma={sigma_mm}",
                )
            )
    return merge_nearby(candidates, spacing_mm, distance_mm=6.0)
