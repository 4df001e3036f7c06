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


def radial_radii(
    values: np.ndarray, points: np.ndarray, spacing: tuple[float, ...], threshold: float, limit_mm: float
) -> np.ndarray:
    """For each point (n, ndim), the median distance (mm) to where the values fall below
    `threshold`, along the axis and diagonal directions: a vessel leaving a nodule lengthens one
    ray, not the median. All points walk each direction at once."""
    ndim = values.ndim
    points = np.asarray(points, dtype=np.intp).reshape(-1, ndim)
    shape = np.array(values.shape)
    lengths = []
    for direction in np.ndindex(*(3,) * ndim):
        step = np.array(direction) - 1
        if not step.any():
            continue
        step_mm = float(np.sqrt(np.sum((step * np.array(spacing)) ** 2)))
        steps = np.arange(1, int(np.ceil(limit_mm / step_mm)) + 1)
        positions = points[:, None, :] + steps[None, :, None] * step  # (n, steps, ndim)
        inside = ((positions >= 0) & (positions < shape)).all(axis=2)
        clipped = np.clip(positions, 0, shape - 1)
        above = inside & (values[tuple(clipped[..., axis] for axis in range(ndim))] >= threshold)
        walked = np.cumprod(above, axis=1).sum(axis=1)
        lengths.append(walked * step_mm + step_mm / 2.0)
    return np.median(np.stack(lengths, axis=1), axis=1) if len(points) else np.zeros(0)


def shell_fractions_below(
    values: np.ndarray,
    points: np.ndarray,
    spacing: tuple[float, ...],
    inner_mm: np.ndarray,
    outer_mm: np.ndarray,
    level: float,
    *,
    chunk: int = 64,
) -> np.ndarray:
    """For each point, the fraction of the shell inner_mm..outer_mm (per point) around it whose
    values are below `level` (voxels outside the array left out): near 1 for a lesion surrounded
    by lung, lower for a junction of vessels or a wall."""
    ndim = values.ndim
    points = np.asarray(points, dtype=np.intp).reshape(-1, ndim)
    inner_mm, outer_mm = np.broadcast_to(inner_mm, len(points)), np.broadcast_to(outer_mm, len(points))
    if not len(points):
        return np.zeros(0)
    reach = [int(np.ceil(float(outer_mm.max()) / s)) for s in spacing]
    offsets = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1).reshape(-1, ndim)
    distance = np.sqrt(((offsets * np.array(spacing)) ** 2).sum(axis=1))
    near = distance <= float(outer_mm.max())
    offsets, distance = offsets[near], distance[near]
    shape = np.array(values.shape)
    fractions = np.zeros(len(points))
    for first in range(0, len(points), chunk):
        part = slice(first, first + chunk)
        positions = points[part, None, :] + offsets[None, :, :]
        inside = ((positions >= 0) & (positions < shape)).all(axis=2)
        clipped = np.clip(positions, 0, shape - 1)
        below = values[tuple(clipped[..., axis] for axis in range(ndim))] < level
        shell = inside & (distance >= inner_mm[part, None]) & (distance <= outer_mm[part, None])
        counts = shell.sum(axis=1)
        fractions[part] = np.where(counts > 0, (below & shell).sum(axis=1) / np.maximum(counts, 1), 0.0)
    return fractions


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
