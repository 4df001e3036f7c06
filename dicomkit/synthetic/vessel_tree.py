"""Branching tubes grown from a root, generation by generation: lung vessels and bronchi."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .raster import Tubes


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def grow_tree(
    rng: np.random.Generator,
    origin: np.ndarray,
    directions: list[tuple[float, ...]],
    inside: Callable[[np.ndarray], np.ndarray],
    *,
    radius: float,
    generations: int,
    first_length: float = 30.0,
    taper: float = 0.74,
    shrink: float = 0.8,
    spread: float = 0.5,
) -> Tubes:
    """Grow one trunk per direction from `origin`; each segment forks in two until `generations`.

    A segment whose end or midpoint leaves the region (`inside` is False) is halved once and
    dropped if it still does not fit, so the tree fills the region without crossing its walls.
    Works in any dimension (3 for CT, 3 with z = 0 for a radiograph).
    """
    origin = np.asarray(origin, dtype=float)
    position = np.repeat(origin[None, :], len(directions), axis=0)
    direction = _unit(np.asarray(directions, dtype=float))
    radii = np.full(len(directions), radius)
    lengths = np.full(len(directions), first_length) * rng.uniform(0.8, 1.2, len(directions))
    planar = np.allclose(direction[:, 2], 0.0)
    starts, ends, start_radii, end_radii = [], [], [], []
    for _ in range(generations):
        if not len(position):
            break
        end = position + direction * lengths[:, None]
        fits = inside(end) & inside((position + end) / 2.0)
        half = position + direction * (lengths / 2.0)[:, None]
        fits_half = ~fits & inside(half)
        end = np.where(fits[:, None], end, half)
        keep = fits | fits_half
        position, end, direction, radii, lengths = (
            position[keep],
            end[keep],
            direction[keep],
            radii[keep],
            lengths[keep],
        )
        starts.append(position)
        ends.append(end)
        start_radii.append(radii)
        end_radii.append(radii * taper)

        # Two children per segment, turned away from the parent on opposite sides of a random
        # perpendicular, biased outward from the root so branches fan out to the periphery.
        count = len(position)
        random = rng.standard_normal((count, 3))
        if planar:
            random[:, 2] = 0.0
        perpendicular = _unit(random - (random * direction).sum(axis=1, keepdims=True) * direction)
        outward = _unit(end - origin)
        children = []
        for sign, angle_scale, radius_scale in ((1.0, 1.0, 0.95), (-1.0, 1.3, 0.8)):
            angle = spread * angle_scale * rng.uniform(0.5, 1.1, count)[:, None]
            turned = np.cos(angle) * direction + sign * np.sin(angle) * perpendicular
            children.append((_unit(turned + 0.25 * outward), radius_scale))
        position = np.concatenate([end, end])
        direction = np.concatenate([child for child, _ in children])
        radii = np.concatenate([radii * taper * scale for _, scale in children])
        lengths = np.concatenate([lengths * shrink * rng.uniform(0.85, 1.15, count) for _ in children])
    if not starts:
        return Tubes.concatenate([])
    return Tubes(
        np.concatenate(starts),
        np.concatenate(ends),
        np.concatenate(start_radii),
        np.concatenate(end_radii),
    )
