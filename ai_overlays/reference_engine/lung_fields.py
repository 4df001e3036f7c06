"""The lung fields of a PA chest radiograph and where in them a nodule may be looked for.

The fields are the two largest dark regions inside the body (Otsu thresholds, first body against
background, then lung against soft tissue). Two places inside them are left out by geometry: the
hila (medial, a little below mid-height of each field), whose vessels end on end are as round and
bright as a nodule, and the apices, where the clavicles cross the first ribs."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

HILUM_CLEAR_MM = 32.0
# The hilum sits this far into a field from its medial edge (share of the field's width) and
# this far down from its top (share of its height).
HILUM_MEDIAL, HILUM_DOWN = 0.3, 0.6
APEX_MM = 25.0
EDGE_MM = 4.0


def otsu_threshold(values: np.ndarray) -> float:
    counts, edges = np.histogram(values, bins=128)
    centres = (edges[:-1] + edges[1:]) / 2.0
    below = np.cumsum(counts)
    above = below[-1] - below
    mass = np.cumsum(counts * centres)
    mean_below = mass / np.maximum(below, 1)
    mean_above = (mass[-1] - mass) / np.maximum(above, 1)
    return float(centres[np.argmax(below * above * (mean_below - mean_above) ** 2)])


def lung_fields(image: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """Both lung fields (boolean, same shape), image in [0, 1] with 1 = most attenuating."""
    smoothed = ndimage.gaussian_filter(image, 4.0 / spacing_mm[0])
    body = ndimage.binary_fill_holes(smoothed > 0.5 * otsu_threshold(smoothed.ravel()))
    body = ndimage.binary_fill_holes(ndimage.binary_opening(body, iterations=3))
    inner = ndimage.binary_erosion(body, iterations=max(1, round(10.0 / spacing_mm[0])))
    if not inner.any():
        return inner
    dark = (smoothed < otsu_threshold(smoothed[inner])) & inner
    labels, count = ndimage.label(dark)
    if not count:
        return dark
    sizes = ndimage.sum_labels(dark, labels, np.arange(1, count + 1))
    fields = np.isin(labels, np.argsort(-sizes)[:2] + 1)
    fields = ndimage.binary_closing(fields, iterations=max(1, round(8.0 / spacing_mm[0])))
    return ndimage.binary_fill_holes(fields)


def nodule_search_region(fields: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """The fields less their edges, hila and apices."""
    region = ndimage.binary_erosion(fields, iterations=max(1, round(EDGE_MM / spacing_mm[0])))
    labels, count = ndimage.label(fields)
    rows, columns = np.indices(fields.shape)
    for box in ndimage.find_objects(labels):
        top, bottom = box[0].start, box[0].stop - 1
        left, right = box[1].start, box[1].stop - 1
        width = right - left
        # The medial edge is the one nearer the image's vertical midline.
        on_left = (left + right) / 2.0 < fields.shape[1] / 2.0
        hilum_column = right - HILUM_MEDIAL * width if on_left else left + HILUM_MEDIAL * width
        hilum_row = top + HILUM_DOWN * (bottom - top)
        near_hilum = np.hypot((rows - hilum_row) * spacing_mm[0], (columns - hilum_column) * spacing_mm[1])
        region[near_hilum <= HILUM_CLEAR_MM] = False
        region[box[0].start : top + round(APEX_MM / spacing_mm[0]), box[1]] = False
    return region
