"""A matched filter for round lesions on projection images (chest radiograph nodules, breast
masses): the projection of a sphere, a disc whose height falls off as sqrt(1 - (r/R)^2), compared
with the image inside a window twice its radius. The correlation is normalised by what the window
holds once its mean and linear gradient are removed, so a lung edge or a breast's thickness
roll-off does not count, while ribs, vessels and glandular clumps, which fill the window with
another shape, lower it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

WINDOW = 2.0  # window radius in units of the disc radius


@dataclass(frozen=True)
class DiscResponse:
    """Per pixel, the best radius's normalised correlation (-1..1), the fitted disc height in image
    units and the index of that radius."""

    correlation: np.ndarray
    height: np.ndarray
    radius_index: np.ndarray


def disc_response(image: np.ndarray, spacing_mm: tuple[float, float], radii_mm: tuple[float, ...]) -> DiscResponse:
    best = np.full(image.shape, -1.0, dtype=np.float32)
    height = np.zeros(image.shape, dtype=np.float32)
    which = np.zeros(image.shape, dtype=np.int16)
    squared = image.astype(np.float64) ** 2
    for index, radius in enumerate(radii_mm):
        correlation, fitted = _one_radius(image.astype(np.float64), squared, spacing_mm, radius)
        better = correlation > best
        best[better] = correlation[better]
        height[better] = fitted[better]
        which[better] = index
    return DiscResponse(best, height, which)


def _one_radius(image, squared, spacing_mm, radius_mm):
    reach = [int(np.ceil(WINDOW * radius_mm / s)) for s in spacing_mm]
    y = np.arange(-reach[0], reach[0] + 1)[:, None] * spacing_mm[0]
    x = np.arange(-reach[1], reach[1] + 1)[None, :] * spacing_mm[1]
    distance = np.hypot(y, x)
    window = (distance <= WINDOW * radius_mm).astype(np.float64)
    disc = np.sqrt(np.clip(1.0 - (distance / radius_mm) ** 2, 0.0, None)) * window
    disc -= window * disc.sum() / window.sum()
    disc_norm = float(np.sqrt((disc**2).sum()))
    template = disc / disc_norm
    count = window.sum()
    ramp_y, ramp_x = y * window, x * window
    sums = fftconvolve(image, window, mode="same")
    energy = fftconvolve(squared, window, mode="same")
    along_y = fftconvolve(image, ramp_y, mode="same")
    along_x = fftconvolve(image, ramp_x, mode="same")
    residual = energy - sums**2 / count - along_y**2 / (ramp_y**2).sum() - along_x**2 / (ramp_x**2).sum()
    projection = fftconvolve(image, template, mode="same")
    correlation = projection / np.sqrt(np.maximum(residual, 1e-12))
    return np.clip(correlation, -1.0, 1.0), projection / disc_norm
