// The display maths shared by both renderers (and mirrored in the WebGL fragment shader):
// the linear VOI LUT of DICOM PS3.3 C.11.2.1.2.1 on modality values (HU for CT).

/**
 * Grey level in 0..1 for a value under a window, before any inversion.
 * @param {number} value modality value (after rescale)
 * @param {number} center window center
 * @param {number} width window width (at least 1)
 */
export function windowValue(value, center, width) {
  const span = Math.max(width, 1) - 1;
  const low = center - 0.5 - span / 2;
  const high = center - 0.5 + span / 2;
  if (value <= low) return 0;
  if (value > high) return 1;
  return (value - (center - 0.5)) / span + 0.5;
}

/**
 * The 8-bit grey a display shows for a value: what the renderers write to the canvas.
 * @param {number} value
 * @param {{center: number, width: number}} window
 * @param {boolean} inverted MONOCHROME1 or the user's invert, not both
 */
export function displayedGrey(value, window, inverted) {
  const grey = windowValue(value, window.center, window.width);
  return Math.round((inverted ? 1 - grey : grey) * 255);
}

/** The window an image shows first: its own, else one spanning its values (RGB: identity). */
export function defaultWindow(frame, values) {
  if (frame.dtype === "rgb8") return { center: 128, width: 256 };
  if (frame.window_width > 0 && Number.isFinite(frame.window_center)) {
    return { center: frame.window_center, width: frame.window_width };
  }
  if (values) {
    let low = Infinity;
    let high = -Infinity;
    for (let index = 0; index < values.length; index += 1) {
      const value = values[index];
      if (value < low) low = value;
      if (value > high) high = value;
    }
    if (Number.isFinite(low)) return { center: (low + high + 1) / 2, width: Math.max(high - low + 1, 1) };
  }
  return { center: 128, width: 256 };
}
