// Heatmaps through a colour map: the 8-bit probability (0-255 = 0-1) to the perceptual "inferno"
// ramp (dark purple to pale yellow, monotonic in lightness so a brighter colour is a higher
// probability), values under the threshold left transparent. Outline mode keeps only the pixels on
// the edge of the thresholded mask: the iso-contour at the threshold, one image pixel wide.

// matplotlib's inferno at nine evenly spaced points; linear in between.
const INFERNO_STOPS = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
];

/** 256 RGB triplets. */
export const INFERNO = buildLut(INFERNO_STOPS);

function buildLut(stops) {
  const lut = new Uint8Array(256 * 3);
  const segments = stops.length - 1;
  for (let value = 0; value < 256; value += 1) {
    const position = (value / 255) * segments;
    const index = Math.min(Math.floor(position), segments - 1);
    const fraction = position - index;
    for (let channel = 0; channel < 3; channel += 1) {
      const low = stops[index][channel];
      const high = stops[index + 1][channel];
      lut[value * 3 + channel] = Math.round(low + (high - low) * fraction);
    }
  }
  return lut;
}

/**
 * Colour one heatmap.
 * @param {Uint8Array} grey rows x columns probabilities, row by row
 * @param {number} columns
 * @param {number} rows
 * @param {number} threshold 0-255: values below are transparent
 * @param {"fill"|"outline"} mode
 * @returns {ImageData}
 */
export function colourise(grey, columns, rows, threshold, mode) {
  const image = new ImageData(columns, rows);
  const out = image.data;
  const outline = mode === "outline";
  const cut = Math.max(1, threshold); // 0 is "nothing here", never drawn
  for (let row = 0; row < rows; row += 1) {
    for (let column = 0; column < columns; column += 1) {
      const index = row * columns + column;
      const value = grey[index];
      if (value < cut) continue;
      if (outline && !onEdge(grey, columns, rows, column, row, cut)) continue;
      const offset = index * 4;
      out[offset] = INFERNO[value * 3];
      out[offset + 1] = INFERNO[value * 3 + 1];
      out[offset + 2] = INFERNO[value * 3 + 2];
      out[offset + 3] = 255;
    }
  }
  return image;
}

function onEdge(grey, columns, rows, column, row, cut) {
  if (column === 0 || row === 0 || column === columns - 1 || row === rows - 1) return true;
  const index = row * columns + column;
  return grey[index - 1] < cut || grey[index + 1] < cut || grey[index - columns] < cut || grey[index + columns] < cut;
}

/** The 0-1 legend: the ramp left to right on a canvas. */
export function drawColourBar(canvas) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(256, 1);
  for (let value = 0; value < 256; value += 1) {
    image.data.set([INFERNO[value * 3], INFERNO[value * 3 + 1], INFERNO[value * 3 + 2], 255], value * 4);
  }
  canvas.width = 256;
  canvas.height = 1;
  context.putImageData(image, 0, 0);
}
