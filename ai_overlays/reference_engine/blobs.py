"""Blob-versus-tube tests shared by the detectors: candidates are local maxima of a smoothed image,
and the Hessian there tells a round lesion (every curvature strongly negative) from a vessel or a
rib (one curvature near zero, along its axis). Works in 2D and 3D."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Candidate:
    """A lesion candidate in array index coordinates (slice, row, column) or (row, column)."""

    centre: tuple[float, ...]
    radius_mm: float
    score: float  # 0-100
    label: str = ""


def local_maxima(smoothed: np.ndarray, mask: np.ndarray, size: tuple[int, ...], floor: float) -> np.ndarray:
    """Indices (n, ndim) of points that are the maximum of their neighbourhood, inside the mask
    and above `floor`."""
    peaks = (smoothed == ndimage.maximum_filter(smoothed, size=size, mode="nearest")) & mask & (smoothed > floor)
    return np.argwhere(peaks)


def roundness(smoothed: np.ndarray, points: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """For each point, |smallest curvature| / |largest curvature| of a bright structure, 0..1:
    about 1 for a sphere or disc, about 0 for a tube or ridge, 0 where not every curvature is
    negative. Finite differences of the smoothed image, in physical units."""
    ndim = smoothed.ndim
    if not len(points):
        return np.zeros(0)
    upper = np.array(smoothed.shape) - 2
    points = np.clip(points, 1, upper)
    hessian = np.empty((len(points), ndim, ndim))

    def value(offset):
        index = tuple(points[:, axis] + offset[axis] for axis in range(ndim))
        return smoothed[index].astype(np.float64)

    centre = value([0] * ndim)
    for a in range(ndim):
        step = [0] * ndim
        step[a] = 1
        minus = [-s for s in step]
        hessian[:, a, a] = (value(step) - 2.0 * centre + value(minus)) / spacing[a] ** 2
        for b in range(a + 1, ndim):
            pp, pm, mp, mm = ([0] * ndim for _ in range(4))
            pp[a], pp[b], pm[a], pm[b], mp[a], mp[b], mm[a], mm[b] = 1, 1, 1, -1, -1, 1, -1, -1
            mixed = (value(pp) - value(pm) - value(mp) + value(mm)) / (4.0 * spacing[a] * spacing[b])
            hessian[:, a, b] = hessian[:, b, a] = mixed
    eigenvalues = np.linalg.eigvalsh(hessian)  # ascending: most negative first
    strongest, weakest = eigenvalues[:, 0], eigenvalues[:, -1]
    ratio = np.where((weakest < 0) & (strongest < 0), weakest / np.minimum(strongest, -1e-12), 0.0)
    return np.clip(ratio, 0.0, 1.0)


def radial_radius(
    values: np.ndarray, centre: tuple[int, ...], spacing: tuple[float, ...], threshold: float, limit_mm: float
) -> float:
    """Median distance (mm) from the centre to where the values fall below `threshold`, along the
    axis and diagonal directions: a vessel leaving a nodule lengthens one ray, not the median."""
    ndim = values.ndim
    directions = [np.array(d) for d in np.ndindex(*(3,) * ndim) if any(c != 1 for c in d)]
    lengths = []
    for direction in directions:
        step = (direction - 1).astype(float)
        step_mm = float(np.sqrt(np.sum((step * np.array(spacing)) ** 2)))
        distance, position = 0.0, np.array(centre, dtype=float)
        while distance < limit_mm:
            position = position + step
            index = tuple(int(round(p)) for p in position)
            if any(i < 0 or i >= n for i, n in zip(index, values.shape, strict=True)) or values[index] < threshold:
                break
            distance += step_mm
        lengths.append(distance + step_mm / 2.0)
    return float(np.median(lengths))


def shell_fraction_below(
    values: np.ndarray,
    centre: tuple[int, ...],
    spacing: tuple[float, ...],
    inner_mm: float,
    outer_mm: float,
    level: float,
) -> float:
    """Fraction of the shell inner_mm..outer_mm around the centre whose values are below `level`:
    near 1 for a lesion surrounded by lung, lower for a junction of vessels or a wall."""
    reach = [int(np.ceil(outer_mm / s)) for s in spacing]
    box = tuple(slice(max(c - r, 0), c + r + 1) for c, r in zip(centre, reach, strict=True))
    crop = values[box]
    grids = np.meshgrid(
        *[
            (np.arange(b.start, b.start + n) - c) * s
            for b, n, c, s in zip(box, crop.shape, centre, spacing, strict=True)
        ],
        indexing="ij",
    )
    distance = np.sqrt(sum(g * g for g in grids))
    shell = (distance >= inner_mm) & (distance <= outer_mm)
    return float((crop[shell] < level).mean()) if shell.any() else 0.0


def merge_nearby(candidates: list[Candidate], spacing: tuple[float, ...], distance_mm: float) -> list[Candidate]:
    """Keep the best-scoring candidate of each cluster closer than distance_mm (or the larger
    radius of the two)."""
    kept: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        here = np.array(candidate.centre) * np.array(spacing)
        if all(
            np.linalg.norm(here - np.array(other.centre) * np.array(spacing))
            > max(distance_mm, other.radius_mm, candidate.radius_mm)
            for other in kept
        ):
            kept.append(candidate)
    return kept
