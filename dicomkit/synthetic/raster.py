"""Soft-edged shapes painted into float32 images in millimetre coordinates.

Every shape is evaluated only inside its bounding box and blended with an alpha ramp one pixel
wide, which reads as partial-volume averaging rather than the jagged edges of a binary mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOAT = np.float32


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates (mm) of a 2D image: x along columns, y along rows."""

    x: np.ndarray
    y: np.ndarray
    spacing: float

    @classmethod
    def centred(cls, rows: int, columns: int, spacing: float) -> Grid:
        x = ((np.arange(columns) - (columns - 1) / 2) * spacing).astype(FLOAT)
        y = ((np.arange(rows) - (rows - 1) / 2) * spacing).astype(FLOAT)
        return cls(x=x, y=y, spacing=float(spacing))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.size, self.x.size)

    def window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Row and column slices covering the box [x0, x1] x [y0, y1], or None when outside."""
        # Plain arithmetic: this runs for every painted shape, so avoid NumPy scalar overhead.
        origin_x, origin_y, step = self._origin
        c0 = max(math.ceil((x0 - origin_x) / step), 0)
        c1 = min(math.floor((x1 - origin_x) / step) + 1, self.x.size)
        r0 = max(math.ceil((y0 - origin_y) / step), 0)
        r1 = min(math.floor((y1 - origin_y) / step) + 1, self.y.size)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)

    @property
    def _origin(self) -> tuple[float, float, float]:
        return float(self.x[0]), float(self.y[0]), self.spacing

    def local(self, window: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
        """Broadcastable coordinates of a window: X with shape (1, n), Y with shape (m, 1)."""
        rows, columns = window
        return self.x[columns][None, :], self.y[rows][:, None]

    def to_pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """(column, row) of a point, in fractional pixels."""
        column = (x_mm - float(self.x[0])) / self.spacing
        row = (y_mm - float(self.y[0])) / self.spacing
        return column, row


def ramp(signed_distance: np.ndarray, edge: float) -> np.ndarray:
    """Alpha 1 inside, 0 outside, linear across `edge` mm centred on the boundary."""
    return np.clip(0.5 - signed_distance / edge, 0.0, 1.0)


def smoothstep(edge0: float, edge1: float, value):
    t = np.clip((value - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rotated(X, Y, cx, cy, angle: float):
    """Coordinates relative to (cx, cy) in a frame turned by `angle` radians."""
    # Python floats keep float32 arrays float32; NumPy float64 scalars would upcast them.
    cx, cy = float(cx), float(cy)
    if angle == 0.0:
        return X - cx, Y - cy
    cosine, sine = math.cos(angle), math.sin(angle)
    return (X - cx) * cosine + (Y - cy) * sine, (Y - cy) * cosine - (X - cx) * sine


def ellipse_distance(
    X: np.ndarray,
    Y: np.ndarray,
    cx: float,
    cy: float,
    a: float,
    b: float,
    angle: float = 0.0,
) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) to an ellipse boundary.

    Uses the first-order estimate (f - 1) / |grad f| with f the normalised radius, which is
    exact on the boundary and good to a fraction of a millimetre across the edge ramp.
    """
    u, v = _rotated(X, Y, cx, cy, angle)
    a, b = float(a), float(b)
    q = (u / a) ** 2 + (v / b) ** 2
    gradient = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2)
    radius = np.sqrt(q)
    return (radius - 1.0) * radius / np.maximum(gradient, 1e-6)


def ellipsoid_distance(X, Y, z: float, centre, axes) -> np.ndarray:
    """Approximate signed 3D distance (mm) from points (X, Y, z) to an axis-aligned ellipsoid;
    unlike a planar section it stays a true thickness where the surface is cut obliquely."""
    u, v = X - float(centre[0]), Y - float(centre[1])
    w = float(z) - float(centre[2])
    a, b, c = (float(axis) for axis in axes)
    q = (u / a) ** 2 + (v / b) ** 2 + (w / c) ** 2
    gradient = np.sqrt((u / (a * a)) ** 2 + (v / (b * b)) ** 2 + (w / (c * c)) ** 2)
    radius = np.sqrt(q)
    return (radius - 1.0) * radius / np.maximum(gradient, 1e-6)


def ellipse_window(grid: Grid, cx, cy, a, b, margin: float) -> tuple[slice, slice] | None:
    reach = max(a, b) + margin
    return grid.window(cx - reach, cx + reach, cy - reach, cy + reach)


def paint_ellipse(
    image: np.ndarray,
    grid: Grid,
    cx: float,
    cy: float,
    a: float,
    b: float,
    value: float,
    *,
    angle: float = 0.0,
    edge: float | None = None,
    weight: float = 1.0,
) -> None:
    """Blend `value` into `image` inside an ellipse (semi-axes a along x, b along y)."""
    if a <= 0 or b <= 0:
        return
    value, weight = float(value), float(weight)
    edge = edge or grid.spacing
    window = ellipse_window(grid, cx, cy, a, b, edge)
    if window is None:
        return
    X, Y = grid.local(window)
    alpha = ramp(ellipse_distance(X, Y, cx, cy, a, b, angle), edge)
    if weight != 1.0:
        alpha *= weight
    region = image[window]
    region += alpha * (value - region)


def ellipsoid_section(
    z: float, centre: tuple[float, float, float], axes: tuple[float, float, float]
) -> tuple[float, float] | None:
    """Semi-axes (x, y) of an axis-aligned ellipsoid cut by the plane at height z."""
    dz = (z - centre[2]) / axes[2]
    if abs(dz) >= 1.0:
        return None
    factor = float(np.sqrt(1.0 - dz * dz))
    return axes[0] * factor, axes[1] * factor


def paint_ellipsoid(
    image: np.ndarray,
    grid: Grid,
    z: float,
    centre: tuple[float, float, float],
    axes: tuple[float, float, float],
    value: float,
    *,
    angle: float = 0.0,
    grow: float = 0.0,
) -> None:
    """Paint the cross-section of an ellipsoid, optionally grown by `grow` mm on every side."""
    grown = (axes[0] + grow, axes[1] + grow, axes[2] + grow)
    section = ellipsoid_section(z, centre, grown)
    if section is not None:
        paint_ellipse(image, grid, centre[0], centre[1], *section, value, angle=angle)


@dataclass(frozen=True)
class Tubes:
    """Straight tube segments with linearly tapering radius: the building block of vessels,
    airways, ribs and spicules."""

    start: np.ndarray  # (n, 3) mm
    end: np.ndarray  # (n, 3) mm
    start_radius: np.ndarray  # (n,)
    end_radius: np.ndarray  # (n,)

    @classmethod
    def from_polyline(cls, points, radii) -> Tubes:
        points = np.asarray(points, dtype=float)
        radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(points),))
        return cls(points[:-1], points[1:], radii[:-1].copy(), radii[1:].copy())

    @classmethod
    def concatenate(cls, parts: list[Tubes]) -> Tubes:
        parts = [part for part in parts if len(part)]
        if not parts:
            empty = np.zeros((0, 3))
            return cls(empty, empty, np.zeros(0), np.zeros(0))
        return cls(
            np.concatenate([part.start for part in parts]),
            np.concatenate([part.end for part in parts]),
            np.concatenate([part.start_radius for part in parts]),
            np.concatenate([part.end_radius for part in parts]),
        )

    def __len__(self) -> int:
        return len(self.start)

    def scaled_radii(self, factor: float, offset: float = 0.0) -> Tubes:
        return Tubes(
            self.start,
            self.end,
            np.maximum(self.start_radius * factor + offset, 0.0),
            np.maximum(self.end_radius * factor + offset, 0.0),
        )

    def crossing(self, z: float) -> np.ndarray:
        """Indices of segments whose swept volume reaches the plane at height z."""
        reach = np.maximum(self.start_radius, self.end_radius)
        low = np.minimum(self.start[:, 2], self.end[:, 2]) - reach
        high = np.maximum(self.start[:, 2], self.end[:, 2]) + reach
        return np.flatnonzero((low <= z) & (high >= z))


def segment_distance(X, Y, z: float, start: np.ndarray, end: np.ndarray):
    """Distance from points (X, Y, z) to a 3D segment and the parameter t of the nearest point."""
    sx, sy, sz = (float(value) for value in start)
    ux, uy, uz = (float(e) - s for e, s in zip(end, (sx, sy, sz), strict=True))
    length_squared = ux * ux + uy * uy + uz * uz
    dx = X - sx
    dy = Y - sy
    dz = float(z) - sz
    if length_squared < 1e-12:
        t = np.zeros_like(dx * dy)
    else:
        t = np.clip((dx * ux + dy * uy + dz * uz) / length_squared, 0.0, 1.0)
    distance = np.sqrt((dx - t * ux) ** 2 + (dy - t * uy) ** 2 + (dz - t * uz) ** 2)
    return distance, t


def paint_tubes(
    image: np.ndarray,
    grid: Grid,
    z: float,
    tubes: Tubes,
    value: float,
    *,
    core_value: float | None = None,
    wall: float = 0.0,
    weight: float = 1.0,
) -> None:
    """Blend the cross-section of tubes at height z; with `core_value`, the inside `wall` mm
    deeper than the surface gets a second value (air in bronchi, marrow in bone)."""
    edge = grid.spacing
    indices = tubes.crossing(z)
    if not len(indices):
        return
    value, weight = float(value), float(weight)
    rows = zip(
        tubes.start[indices].tolist(),
        tubes.end[indices].tolist(),
        tubes.start_radius[indices].tolist(),
        tubes.end_radius[indices].tolist(),
        strict=True,
    )
    for start, end, r0, r1 in rows:
        # A tube thinner than a pixel covers only part of it: scale its alpha by that fraction
        # and skip the ones that would not show at all.
        coverage = min(1.0, 2.0 * max(r0, r1) / edge)
        if coverage < 0.15:
            continue
        reach = max(r0, r1) + edge
        # Only the part of the segment within `reach` of the plane can show in it.
        dz = end[2] - start[2]
        if abs(dz) < 1e-9:
            t0, t1 = 0.0, 1.0
        else:
            t0 = min(max((z - reach - start[2]) / dz, 0.0), 1.0)
            t1 = min(max((z + reach - start[2]) / dz, 0.0), 1.0)
            t0, t1 = min(t0, t1), max(t0, t1)
        ax, ay = (
            start[0] + t0 * (end[0] - start[0]),
            start[1] + t0 * (end[1] - start[1]),
        )
        bx, by = (
            start[0] + t1 * (end[0] - start[0]),
            start[1] + t1 * (end[1] - start[1]),
        )
        window = grid.window(
            min(ax, bx) - reach,
            max(ax, bx) + reach,
            min(ay, by) - reach,
            max(ay, by) + reach,
        )
        if window is None:
            continue
        X, Y = grid.local(window)
        distance, t = segment_distance(X, Y, z, start, end)
        radius = r0 + t * (r1 - r0)
        alpha = ramp(distance - radius, edge)
        if weight * coverage != 1.0:
            alpha *= weight * coverage
        region = image[window]
        region += alpha * (value - region)
        if core_value is not None:
            core = ramp(distance - (radius - wall), edge) * (radius > wall)
            region += core * (float(core_value) - region)


def add_tube_chords(image: np.ndarray, grid: Grid, tubes: Tubes, scale: float) -> None:
    """Add the projected path length (mm) through a set of tubes, times `scale`, to a radiograph.

    Tubes lie in the detector plane (z is ignored). The set is combined as a union (the longest
    chord wins where segments overlap), so polyline joints and branch points are not counted twice.
    """
    if not len(tubes):
        return
    reach = np.maximum(tubes.start_radius, tubes.end_radius)[:, None] + grid.spacing
    low = np.minimum(tubes.start[:, :2], tubes.end[:, :2]) - reach
    high = np.maximum(tubes.start[:, :2], tubes.end[:, :2]) + reach
    bounds = grid.window(low[:, 0].min(), high[:, 0].max(), low[:, 1].min(), high[:, 1].max())
    if bounds is None:
        return
    union = np.zeros(
        (bounds[0].stop - bounds[0].start, bounds[1].stop - bounds[1].start),
        dtype=FLOAT,
    )
    for index in range(len(tubes)):
        window = grid.window(low[index, 0], high[index, 0], low[index, 1], high[index, 1])
        if window is None:
            continue
        start = (float(tubes.start[index, 0]), float(tubes.start[index, 1]), 0.0)
        end = (float(tubes.end[index, 0]), float(tubes.end[index, 1]), 0.0)
        r0, r1 = float(tubes.start_radius[index]), float(tubes.end_radius[index])
        X, Y = grid.local(window)
        distance, t = segment_distance(X, Y, 0.0, start, end)
        radius = r0 + t * (r1 - r0)
        chord = 2.0 * np.sqrt(np.maximum(radius * radius - distance * distance, 0.0))
        local = (
            slice(window[0].start - bounds[0].start, window[0].stop - bounds[0].start),
            slice(window[1].start - bounds[1].start, window[1].stop - bounds[1].start),
        )
        np.maximum(union[local], chord, out=union[local])
    image[bounds] += float(scale) * union


def ellipsoid_chord(X, Y, cx, cy, a, b, depth, angle: float = 0.0) -> np.ndarray:
    """Path length (mm) through an ellipsoid of in-plane semi-axes a, b and full depth `depth`."""
    u, v = _rotated(X, Y, cx, cy, angle)
    q = (u / float(a)) ** 2 + (v / float(b)) ** 2
    return float(depth) * np.sqrt(np.clip(1.0 - q, 0.0, 1.0))


def add_ellipsoid_chord(image, grid: Grid, cx, cy, a, b, depth, scale, angle: float = 0.0) -> None:
    window = ellipse_window(grid, cx, cy, a, b, grid.spacing)
    if window is None:
        return
    X, Y = grid.local(window)
    image[window] += float(scale) * ellipsoid_chord(X, Y, cx, cy, a, b, depth, angle)


def power_law_noise(rng: np.random.Generator, shape: tuple[int, ...], beta: float) -> np.ndarray:
    """Zero-mean unit-variance noise whose power spectrum falls as 1/f**beta (beta ~3 looks like
    breast parenchyma, ~2 like soft-tissue mottle)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    axes = tuple(range(len(shape)))
    spectrum = np.fft.rfftn(white, axes=axes)
    frequencies = [np.fft.fftfreq(n) for n in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    radius_squared = sum(
        np.reshape(f, [-1 if axis == index else 1 for axis in range(len(shape))]) ** 2
        for index, f in enumerate(frequencies)
    )
    radius_squared.flat[0] = np.inf
    spectrum *= radius_squared ** (-beta / 4.0)
    field = np.fft.irfftn(spectrum, s=shape, axes=axes).astype(FLOAT)
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


def correlated_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Unit-variance noise blurred by a 3x3 box: reconstructed CT and MR pixels are not independent."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    horizontal = noise.copy()
    horizontal[:, 1:] += noise[:, :-1]
    horizontal[:, :-1] += noise[:, 1:]
    both = horizontal.copy()
    both[1:, :] += horizontal[:-1, :]
    both[:-1, :] += horizontal[1:, :]
    both *= 1.0 / 3.0
    return both


class NoiseBank:
    """Correlated noise for many slices at a fraction of the cost: a few planes computed once,
    each slice taking a crop of a random plane at a random offset."""

    def __init__(
        self,
        rng: np.random.Generator,
        shape: tuple[int, int],
        *,
        planes: int = 12,
        margin: int = 48,
    ):
        self.rng = rng
        self.shape = shape
        self.margin = margin
        self.planes = [correlated_noise(rng, (shape[0] + margin, shape[1] + margin)) for _ in range(planes)]

    def draw(self) -> np.ndarray:
        plane = self.planes[int(self.rng.integers(len(self.planes)))]
        row, column = (int(offset) for offset in self.rng.integers(0, self.margin, 2))
        return plane[row : row + self.shape[0], column : column + self.shape[1]]


def interpolation_matrix(targets: np.ndarray, origin: float, step: float, count: int) -> np.ndarray:
    """Linear-interpolation weights from a regular coarse axis to `targets` (rows: targets)."""
    position = np.clip((np.asarray(targets, dtype=float) - origin) / step, 0.0, count - 1.000001)
    lower = np.floor(position).astype(int)
    fraction = position - lower
    matrix = np.zeros((len(position), count), dtype=FLOAT)
    rows = np.arange(len(position))
    matrix[rows, lower] = 1.0 - fraction
    matrix[rows, lower + 1] = fraction
    return matrix


class SmoothField3D:
    """A smooth random scalar field on a coarse 3D lattice, sampled on image planes by two small
    matrix products (much cheaper than interpolating every voxel)."""

    def __init__(
        self,
        rng: np.random.Generator,
        lower: tuple[float, float, float],
        upper: tuple[float, float, float],
        step: float,
        correlation_mm: float,
    ):
        from scipy.ndimage import gaussian_filter

        self.lower = lower
        self.step = step
        self.counts = tuple(int(np.ceil((hi - lo) / step)) + 2 for lo, hi in zip(lower, upper, strict=True))
        # Stored as (z, y, x).
        white = rng.standard_normal(self.counts[::-1]).astype(FLOAT)
        field = gaussian_filter(white, correlation_mm / step, mode="wrap")
        field /= field.std() + 1e-12
        self.values = field
        gradients = np.gradient(field, step)
        # Typical gradient magnitude turns |field| into an approximate distance to its zero set.
        self.gradient_scale = float(np.sqrt(np.mean(sum(g * g for g in gradients))))
        self._matrices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def sample(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Trilinear samples at arbitrary points (broadcast together)."""
        from scipy.ndimage import map_coordinates

        x, y, z = np.broadcast_arrays(x, y, z)
        coordinates = [
            ((z - self.lower[2]) / self.step).ravel(),
            ((y - self.lower[1]) / self.step).ravel(),
            ((x - self.lower[0]) / self.step).ravel(),
        ]
        return map_coordinates(self.values, coordinates, order=1, mode="nearest").reshape(x.shape)

    def plane(self, grid: Grid, z: float) -> np.ndarray:
        key = (id(grid.x), id(grid.y))
        if key not in self._matrices:
            self._matrices[key] = (
                interpolation_matrix(grid.y, self.lower[1], self.step, self.counts[1]),
                interpolation_matrix(grid.x, self.lower[0], self.step, self.counts[0]).T.copy(),
            )
        rows, columns = self._matrices[key]
        position = float(np.clip((z - self.lower[2]) / self.step, 0.0, self.counts[2] - 1.000001))
        index = int(position)
        fraction = position - index
        coarse = (1.0 - fraction) * self.values[index] + fraction * self.values[index + 1]
        return rows @ coarse @ columns


def set_axial_geometry(dataset, grid: Grid, z: float, thickness: float) -> None:
    """Image Plane module of an axial slice at height z on the grid, patient head first supine."""
    dataset.PatientPosition = "HFS"
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    dataset.ImagePositionPatient = [
        round(float(grid.x[0]), 4),
        round(float(grid.y[0]), 4),
        round(z, 4),
    ]
    dataset.SliceLocation = round(z, 4)
    dataset.PixelSpacing = [round(grid.spacing, 6), round(grid.spacing, 6)]
    dataset.SliceThickness = round(thickness, 4)
