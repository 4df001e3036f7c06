// Synchronised scrolling: viewports showing series of one frame of reference (the same patient
// space, e.g. a CT's lung and soft-tissue reconstructions) follow each other by slice position.

/** Unit normal of a series' slices from its first frame's Image Orientation, or null. */
function sliceNormal(series) {
  const orientation = series.frames[0]?.image_orientation;
  if (!orientation || orientation.length !== 6) return null;
  const [rx, ry, rz, cx, cy, cz] = orientation;
  const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
  const length = Math.hypot(...normal) || 1;
  return normal.map((value) => value / length);
}

/** Whether two series can scroll together: same frame of reference, parallel slices. */
export function canSynchronise(one, other) {
  if (!one || !other || one === other) return false;
  const reference = one.info.frame_of_reference_uid;
  if (!reference || reference !== other.info.frame_of_reference_uid) return false;
  if (one.count < 2 || other.count < 2) return false;
  if (one.positions.some((value) => value === null) || other.positions.some((value) => value === null)) return false;
  const [normal, otherNormal] = [sliceNormal(one), sliceNormal(other)];
  if (!normal || !otherNormal) return true; // Slice Location alone: trust the shared frame of reference
  return Math.abs(normal[0] * otherNormal[0] + normal[1] * otherNormal[1] + normal[2] * otherNormal[2]) > 0.99;
}

/** The frame of a series nearest a slice position (mm). */
export function nearestFrame(series, position) {
  let best = 0;
  let bestDistance = Infinity;
  for (const [index, value] of series.positions.entries()) {
    const distance = Math.abs(value - position);
    if (distance < bestDistance) {
      best = index;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Move every other viewport whose series can synchronise with the source's to the nearest slice.
 * @param {import("./viewport.js").Viewport} source
 * @param {import("./viewport.js").Viewport[]} viewports
 */
export function synchronise(source, viewports) {
  const position = source.series?.positions[source.frameIndex];
  if (position === null || position === undefined) return;
  for (const viewport of viewports) {
    if (viewport === source || !canSynchronise(source.series, viewport.series)) continue;
    viewport.setFrame(nearestFrame(viewport.series, position), { propagate: false });
  }
}
