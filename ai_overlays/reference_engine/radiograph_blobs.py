"""Round dense blobs on a projection image (chest radiograph, mammogram): difference of Gaussians
at the lesion's scale, kept where the Hessian says round rather than a rib, vessel or duct edge."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .blobs import Candidate, local_maxima, merge_nearby, roundness
from .sampling import block_mean, to_full_resolution


def detect_blobs(
    image: np.ndarray,
    spacing_mm: tuple[float, float],
    *,
    radii_mm: tuple[float, ...],
    mask: np.ndarray | None,
    working_mm: float,
    min_roundness: float = 0.3,
) -> list[tuple[Candidate, float]]:
    """Candidates (centre in row, column of `image`) with their contrast in units of the image's
    own blob-response spread, best first; `mask` (same shape as image) limits where they may be."""
    factors = tuple(max(1, round(working_mm / s)) for s in spacing_mm)
    coarse = block_mean(image, factors)
    spacing = tuple(s * f for s, f in zip(spacing_mm, factors, strict=True))
    region = np.ones(coarse.shape, dtype=bool) if mask is None else block_mean(mask.astype(np.float32), factors) > 0.99
    found: list[tuple[Candidate, float]] = []
    for radius in radii_mm:
        sigma = radius / np.sqrt(2.0)
        inner = ndimage.gaussian_filter(coarse, [sigma / s for s in spacing], mode="nearest")
        outer = ndimage.gaussian_filter(coarse, [2.0 * sigma / s for s in spacing], mode="nearest")
        response = inner - outer
        inside = response[region]
        if not inside.size:
            continue
        spread = float(np.median(np.abs(inside - np.median(inside)))) * 1.4826 or 1e-6
        size = tuple(max(3, 2 * round(radius / s) + 1) for s in spacing)
        points = local_maxima(response, region, size, floor=3.0 * spread)
        if not len(points):
            continue
        ratios = roundness(inner, points, spacing)
        for point, ratio in zip(points, ratios, strict=True):
            if ratio < min_roundness:
                continue
            contrast = float(response[tuple(point)]) / spread
            centre = to_full_resolution(point, factors)
            found.append(
                (Candidate(centre, radius, 0.0, f"contrast={contrast:.1f} round={ratio:.2f}"), contrast * ratio)
            )
    found.sort(key=lambda item: -item[1])
    kept = merge_nearby([Candidate(c.centre, c.radius_mm, strength, c.label) for c, strength in found], spacing_mm, 8.0)
    return [(candidate, candidate.score) for candidate in kept]
