// The 2D-canvas fallback for machines without WebGL2: the same window/level maths (windowing.js)
// on the CPU, through a lookup table for integer frames, then drawn with the viewport's transform.

import { PENDING } from "./manifest-loader.js";
import { windowValue } from "./windowing.js";

const INTEGER_RANGES = { int16: [-32768, 65536], uint16: [0, 65536], uint8: [0, 256] };

export class CanvasRenderer {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.name = "canvas2d";
    this.context = canvas.getContext("2d", { alpha: false });
    this.scratch = document.createElement("canvas");
    this.scratchContext = this.scratch.getContext("2d");
    this.lastKey = "";
    this.lookup = null;
    this.lookupKey = "";
  }

  upload() {
    // Pixels stay in the series' buffer; nothing to copy.
  }

  prepare() {}

  forget() {}

  release() {}

  clearAll() {
    this.context.setTransform(1, 0, 0, 1, 0, 0);
    this.context.fillStyle = "#29333f";
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /** Grey levels of every possible integer value under a window, 8-bit. */
  lookupTable(dtype, window, inverted) {
    const key = `${dtype}|${window.center}|${window.width}|${inverted}`;
    if (key === this.lookupKey) return this.lookup;
    const [offset, size] = INTEGER_RANGES[dtype];
    const table = new Uint8ClampedArray(size);
    for (let index = 0; index < size; index += 1) {
      const grey = windowValue(index + offset, window.center, window.width);
      table[index] = Math.round((inverted ? 1 - grey : grey) * 255);
    }
    this.lookup = table;
    this.lookupKey = key;
    return table;
  }

  /** Window a frame into the scratch canvas (skipped when only the transform changed). */
  paint(series, frameIndex, window, inverted) {
    const key = `${series.uid}|${frameIndex}|${window.center}|${window.width}|${inverted}`;
    if (key === this.lastKey) return;
    const frame = series.frames[frameIndex];
    const values = series.values(frameIndex);
    const pixels = frame.rows * frame.columns;
    this.scratch.width = frame.columns;
    this.scratch.height = frame.rows;
    const image = this.scratchContext.createImageData(frame.columns, frame.rows);
    const out = image.data;
    const grey = (value) => {
      const level = windowValue(value, window.center, window.width);
      return Math.round((inverted ? 1 - level : level) * 255);
    };
    if (frame.dtype === "rgb8") {
      for (let pixel = 0; pixel < pixels; pixel += 1) {
        out[pixel * 4] = grey(values[pixel * 3]);
        out[pixel * 4 + 1] = grey(values[pixel * 3 + 1]);
        out[pixel * 4 + 2] = grey(values[pixel * 3 + 2]);
        out[pixel * 4 + 3] = 255;
      }
    } else if (frame.dtype === "float32") {
      for (let pixel = 0; pixel < pixels; pixel += 1) {
        const level = grey(values[pixel]);
        out[pixel * 4] = out[pixel * 4 + 1] = out[pixel * 4 + 2] = level;
        out[pixel * 4 + 3] = 255;
      }
    } else {
      const table = this.lookupTable(frame.dtype, window, inverted);
      const offset = -INTEGER_RANGES[frame.dtype][0];
      for (let pixel = 0; pixel < pixels; pixel += 1) {
        const level = table[values[pixel] + offset];
        out[pixel * 4] = out[pixel * 4 + 1] = out[pixel * 4 + 2] = level;
        out[pixel * 4 + 3] = 255;
      }
    }
    this.scratchContext.putImageData(image, 0, 0);
    this.lastKey = key;
  }

  /** Draw one viewport; see GlRenderer.draw for `view`. */
  draw(view) {
    const context = this.context;
    const { rect } = view;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.fillStyle = "#000";
    context.fillRect(rect.x, rect.y, rect.width, rect.height);
    const { series, frameIndex } = view;
    if (!series || series.state[frameIndex] === PENDING) return false;
    this.paint(series, frameIndex, view.window, view.inverted);
    const ratio = view.pixelRatio;
    const { originX, originY, scaleX, scaleY } = view.transform;
    context.save();
    context.beginPath();
    context.rect(rect.x, rect.y, rect.width, rect.height);
    context.clip();
    context.imageSmoothingEnabled = scaleX * ratio > 1;
    context.setTransform(ratio * scaleX, 0, 0, ratio * scaleY, rect.x + ratio * originX, rect.y + ratio * originY);
    context.drawImage(this.scratch, 0, 0);
    context.restore();
    return true;
  }
}
