"""Breast masses on a screening mammogram: a dense round body of 10-22 mm whose projection is a
disc brighter at its centre, seen on both views of one breast. Glandular streaks converging on
the nipple are elongated and removed by line openings; what is left is matched against the disc
profile, and a candidate becomes a finding when the other view of the same breast holds one at
the same distance from the nipple (the one coordinate both views share)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .blobs import Candidate, local_maxima, merge_nearby
from .disc_filter import disc_response
from .line_opening import above_elongated
from .sampling import block_mean, to_full_resolution

WORKING_MM = 1.0
RADII_MM = (5.0, 6.5, 8.5, 10.5)
LINE_MM = 31.0  # longer than the widest mass
SKIN_MM = 6.0
CHEST_WALL_MM = 20.0  # masses are planted (and mostly found) further in
PER_VIEW = 5
# Correlation with the disc below which nothing counts: glandular clumps reach about 0.75.
SHAPE_FLOOR = 0.55
# Two candidates match when their distances from the nipple differ by less than this.
MATCH_MM = 12.0
# Matched strength (disc height x correlation, geometric mean of both views) scoring 50 and 100.
REPORTED, CERTAIN = 0.088, 0.2
UNPAIRED_SHARE = 0.5  # a candidate seen on one view only scores at most half


@dataclass(frozen=True)
class View:
    """One mammogram: pixels in [0, 1] (1 = dense), spacing in mm, laterality R/L, CC or MLO."""

    pixels: np.ndarray
    spacing: tuple[float, float]
    laterality: str
    position: str


@dataclass(frozen=True)
class _Spot:
    candidate: Candidate  # score holds the raw strength
    nipple_mm: float


def detect_exam_masses(views: list[View]) -> list[list[Candidate]]:
    """Mass candidates per view (same order), centre in (row, column) of that view, scored 0-100."""
    spots = [_view_spots(view) for view in views]
    scores = [[_score(spot.candidate.score) * UNPAIRED_SHARE for spot in found] for found in spots]
    for side in ("R", "L"):
        cc = [i for i, v in enumerate(views) if v.laterality == side and v.position == "CC"]
        mlo = [i for i, v in enumerate(views) if v.laterality == side and v.position.startswith("MLO")]
        if not cc or not mlo:
            for index in cc + mlo:  # a lone view has nothing to confirm it: judged on its own
                scores[index] = [_score(spot.candidate.score) for spot in spots[index]]
            continue
        for first in cc:
            for second in mlo:
                _score_pairs(spots, scores, first, second)
    return [
        [
            Candidate(s.candidate.centre, s.candidate.radius_mm, round(score, 1), s.candidate.label)
            for s, score in zip(found, view_scores, strict=True)
        ]
        for found, view_scores in zip(spots, scores, strict=True)
    ]


def _score_pairs(spots, scores, first: int, second: int) -> None:
    for a, one in enumerate(spots[first]):
        for b, other in enumerate(spots[second]):
            match = 1.0 - abs(one.nipple_mm - other.nipple_mm) / MATCH_MM
            if match <= 0:
                continue
            paired = _score(np.sqrt(one.candidate.score * other.candidate.score) * np.sqrt(match))
            scores[first][a] = max(scores[first][a], paired)
            scores[second][b] = max(scores[second][b], paired)


def _score(strength: float) -> float:
    return 50.0 * float(np.clip(strength / REPORTED, 0.0, 1.0)) + 50.0 * float(
        np.clip((strength - REPORTED) / (CERTAIN - REPORTED), 0.0, 1.0)
    )


def _view_spots(view: View) -> list[_Spot]:
    factors = tuple(max(1, round(WORKING_MM / s)) for s in view.spacing)
    coarse = block_mean(view.pixels, factors)
    spacing = tuple(s * f for s, f in zip(view.spacing, factors, strict=True))
    breast = ndimage.binary_fill_holes(coarse > 0.05)
    if not breast.any():
        return []
    tip = _nipple_column(breast)
    inside = ndimage.binary_erosion(breast, iterations=max(1, round(SKIN_MM / spacing[0])))
    # Tissue cut by the image edge at the chest wall leaves half-disc responses there.
    wall = round(CHEST_WALL_MM / spacing[1])
    if _wall_is_left(breast):
        inside[:, :wall] = False
    else:
        inside[:, -wall:] = False
    response = disc_response(above_elongated(coarse, round(LINE_MM / spacing[0])), spacing, RADII_MM)
    strength = response.height * np.clip((response.correlation - SHAPE_FLOOR) / (1.0 - SHAPE_FLOOR), 0.0, 1.0)
    size = tuple(max(3, 2 * round(RADII_MM[0] / s) + 1) for s in spacing)
    points = local_maxima(strength, inside, size, floor=0.02)
    found = [
        Candidate(
            to_full_resolution(point, factors),
            RADII_MM[response.radius_index[tuple(point)]],
            float(strength[tuple(point)]),
            f"correlation={response.correlation[tuple(point)]:.2f} height={response.height[tuple(point)]:.3f}",
        )
        for point in points
    ]
    kept = merge_nearby(found, view.spacing, distance_mm=8.0)[:PER_VIEW]
    return [_Spot(c, abs(c.centre[1] / factors[1] - tip) * spacing[1]) for c in kept]


def _nipple_column(breast: np.ndarray) -> float:
    """Coarse column of the breast's tip: the chest wall is the image edge the breast touches most."""
    columns = np.flatnonzero(breast.any(axis=0))
    return float(columns[-1] if _wall_is_left(breast) else columns[0])


def _wall_is_left(breast: np.ndarray) -> bool:
    return bool(breast[:, 0].sum() >= breast[:, -1].sum())
