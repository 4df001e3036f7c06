"""Working on a coarser grid for speed, and mapping back to the image's own pixels."""

from __future__ import annotations

import numpy as np


def block_mean(values: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Mean over blocks of `factors` pixels (the trailing partial block dropped), float32."""
    if all(f == 1 for f in factors):
        return values.astype(np.float32, copy=False)
    trimmed = values[tuple(slice(0, (n // f) * f) for n, f in zip(values.shape, factors, strict=True))]
    shape = []
    for n, f in zip(trimmed.shape, factors, strict=True):
        shape += [n // f, f]
    return trimmed.reshape(shape).mean(axis=tuple(range(1, 2 * len(factors), 2)), dtype=np.float32)


def to_full_resolution(index: np.ndarray, factors: tuple[int, ...]) -> tuple[float, ...]:
    """Index coordinates on the full grid of the centre of a coarse cell."""
    return tuple(float(i) * f + (f - 1) / 2.0 for i, f in zip(index, factors, strict=True))
