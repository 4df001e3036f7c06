"""Removing what is long and thin from a projection image: ribs, vessels, ducts and the streaks
of glandular tissue all contain a straight segment longer than a lesion is wide, a round lesion
does not. The grey opening with a line segment keeps a structure that holds the segment; the
largest of the openings over several directions is the background of everything elongated, and
what rises above it is round (or small)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DIRECTIONS = 8


def line_footprints(length_pixels: int) -> list[np.ndarray]:
    length = max(3, int(length_pixels) | 1)
    centre = (length - 1) / 2.0
    steps = np.linspace(-centre, centre, 4 * length)
    footprints = []
    for angle in np.arange(DIRECTIONS) * np.pi / DIRECTIONS:
        footprint = np.zeros((length, length), dtype=bool)
        footprint[
            np.rint(centre + steps * np.sin(angle)).astype(int), np.rint(centre + steps * np.cos(angle)).astype(int)
        ] = True
        footprints.append(footprint)
    return footprints


def above_elongated(image: np.ndarray, length_pixels: int) -> np.ndarray:
    """The image minus its largest opening by a line of `length_pixels` in any direction (>= 0)."""
    background = np.max(
        [ndimage.grey_opening(image, footprint=f, mode="nearest") for f in line_footprints(length_pixels)], axis=0
    )
    return image - background
