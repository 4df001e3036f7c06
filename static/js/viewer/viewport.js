// One viewport: which series and frame it shows, its window, zoom and pan, and what the mouse does
// in it. Coordinates: "image" is continuous pixel space (column, row); "viewport" is CSS pixels
// from the viewport's top-left; the renderer gets device pixels through `rect` and `pixelRatio`.

import { PENDING } from "./manifest-loader.js";
import { ViewportOverlay } from "./overlays.js";
import { presetForKey } from "./presets.js";
import { MEASUREMENT_TOOLS, Measurements } from "./tools.js";
import { defaultWindow } from "./windowing.js";

const WHEEL_STEP_PIXELS = 40; // a mouse notch is 100-120; trackpads send many small deltas
const ZOOM_PER_PIXEL = 0.01;
const MINIMUM_SCALE = 0.02;
const MAXIMUM_SCALE = 64;

export class Viewport {
  /**
   * @param {object} viewer the Viewer (viewer.js)
   * @param {HTMLElement} element an empty element placed in the grid
   */
  constructor(viewer, element) {
    this.viewer = viewer;
    this.element = element;
    element.classList.add("viewport");
    element.tabIndex = -1;
    this.series = null;
    this.frameIndex = 0;
    this.window = { center: 128, width: 256 };
    this.windowFromValues = false;
    this.presetName = "";
    this.userInverted = false;
    this.fitted = true;
    this.scale = 1;
    this.panX = 0;
    this.panY = 0;
    this.align = "center";
    this.size = { width: 1, height: 1 };
    this.rect = { x: 0, y: 0, width: 1, height: 1 };
    this.transform = { originX: 0, originY: 0, scaleX: 1, scaleY: 1 };
    this.cinePlaying = false;
    this.cineClock = 0;
    this.probe = "";
    this.drag = null;
    this.wheelRemainder = 0;

    this.layerCanvas = document.createElement("canvas");
    this.layerCanvas.className = "layer-canvas";
    this.svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.svg.classList.add("measurements");
    element.append(this.layerCanvas, this.svg);
    this.overlay = new ViewportOverlay(element);
    this.measurements = new Measurements(this.svg, this);
    this.listen();
  }

  get pixelRatio() {
    return this.viewer.pixelRatio;
  }

  get frame() {
    return this.series ? this.series.frames[this.frameIndex] : null;
  }

  /** Shown inverted: MONOCHROME1 (by definition) unless the user inverted it back. */
  get inverted() {
    return (this.frame?.photometric === "MONOCHROME1") !== this.userInverted;
  }

  /**
   * Show a series from a frame, with its own window and a fitted view.
   * @param {import("./manifest-loader.js").SeriesPixels|null} series
   */
  setSeries(series, frameIndex = 0, { align = "center" } = {}) {
    this.series = series;
    this.align = align;
    this.frameIndex = series ? Math.min(Math.max(frameIndex, 0), series.count - 1) : 0;
    this.measurements.cancel();
    this.resetView();
    if (series) this.viewer.loader.request(series, this.frameIndex, { shown: true });
    this.element.dataset.seriesUid = series ? series.uid : "";
    this.viewer.seriesShown();
  }

  /** Back to the image's own window, fitted, not inverted. */
  resetView() {
    this.userInverted = false;
    this.fitted = true;
    this.panX = 0;
    this.panY = 0;
    this.presetName = "";
    this.applyDefaultWindow();
    this.update();
  }

  applyDefaultWindow() {
    const frame = this.frame;
    if (!frame) return;
    const hasOwn = frame.dtype === "rgb8" || (frame.window_width > 0 && Number.isFinite(frame.window_center));
    this.windowFromValues = !hasOwn;
    this.window = defaultWindow(frame, hasOwn ? null : this.series.values(this.frameIndex));
    if (this.windowFromValues && this.series.state[this.frameIndex] !== PENDING) this.windowFromValues = false;
  }

  /** Move to a frame; other viewports follow when scrolling is synchronised. */
  setFrame(index, { propagate = true } = {}) {
    if (!this.series) return;
    const next = Math.min(Math.max(Math.round(index), 0), this.series.count - 1);
    if (next === this.frameIndex) return;
    this.frameIndex = next;
    this.measurements.cancel();
    if (this.series.state[next] === PENDING) this.viewer.loader.request(this.series, next);
    this.update();
    if (propagate) this.viewer.frameChanged(this);
  }

  scrollBy(delta) {
    this.setFrame(this.frameIndex + delta);
  }

  setWindow(center, width, presetName = "") {
    this.window = { center, width: Math.max(1, width) };
    this.presetName = presetName;
    this.windowFromValues = false;
    this.update();
  }

  /** Keys 1-6 (0: the image's own window); false when the modality has no such preset. */
  applyPreset(key) {
    if (!this.series) return false;
    if (key === "0") {
      this.presetName = "";
      this.applyDefaultWindow();
      this.update();
      return true;
    }
    const preset = presetForKey(this.series.modality, key);
    if (!preset) return false;
    this.setWindow(preset.center, preset.width, preset.name);
    return true;
  }

  toggleInvert() {
    this.userInverted = !this.userInverted;
    this.update();
  }

  fit() {
    this.fitted = true;
    this.panX = 0;
    this.panY = 0;
    this.update();
  }

  /** One image pixel per device pixel, centred on what is in the middle now. */
  actualSize() {
    this.zoomAt((1 / this.pixelRatio) / this.transform.scaleX, this.size.width / 2, this.size.height / 2);
  }

  /** Zoom by `factor` keeping the image point under (x, y) in viewport pixels where it is. */
  zoomAt(factor, x, y) {
    if (!this.frame) return;
    const anchor = this.viewportToImage(x, y);
    this.scale = Math.min(MAXIMUM_SCALE, Math.max(MINIMUM_SCALE, this.transform.scaleX * factor));
    this.fitted = false;
    this.computeTransform();
    const moved = this.imageToViewport(anchor.x, anchor.y);
    this.panX += x - moved.x;
    this.panY += y - moved.y;
    this.update();
  }

  panBy(dx, dy) {
    this.panX += dx;
    this.panY += dy;
    this.update();
  }

  /** Read the viewport's place in the grid (after a layout change or a resize). */
  measure(gridLeft, gridTop) {
    const box = this.element.getBoundingClientRect();
    const ratio = this.pixelRatio;
    this.size = { width: Math.max(1, box.width), height: Math.max(1, box.height) };
    const x = Math.round((box.left - gridLeft) * ratio);
    const y = Math.round((box.top - gridTop) * ratio);
    this.rect = {
      x,
      y,
      width: Math.max(1, Math.round((box.right - gridLeft) * ratio) - x),
      height: Math.max(1, Math.round((box.bottom - gridTop) * ratio) - y),
    };
    this.layerCanvas.width = this.rect.width;
    this.layerCanvas.height = this.rect.height;
    this.update();
  }

  computeTransform() {
    const frame = this.frame;
    if (!frame) return;
    const spacing = frame.pixel_spacing;
    // Non-square pixels: rows are spacing[0] mm apart, columns spacing[1].
    const aspect = spacing && spacing[0] > 0 && spacing[1] > 0 ? spacing[0] / spacing[1] : 1;
    const { width, height } = this.size;
    if (this.fitted) this.scale = Math.min(width / frame.columns, height / (frame.rows * aspect));
    const scaleX = this.scale;
    const scaleY = this.scale * aspect;
    const imageWidth = frame.columns * scaleX;
    let originX = (width - imageWidth) / 2;
    if (imageWidth < width && this.align === "left") originX = 0;
    if (imageWidth < width && this.align === "right") originX = width - imageWidth;
    const originY = (height - frame.rows * scaleY) / 2;
    // On whole device pixels: at 1:1 each image pixel then covers exactly one screen pixel.
    const ratio = this.pixelRatio;
    const snap = (value) => Math.round(value * ratio) / ratio;
    this.transform = { originX: snap(originX + this.panX), originY: snap(originY + this.panY), scaleX, scaleY };
  }

  /** Something shown changed: recompute the transform and ask for a redraw. */
  update() {
    this.computeTransform();
    this.viewer.requestRender(this);
  }

  imageToViewport(x, y) {
    const { originX, originY, scaleX, scaleY } = this.transform;
    return { x: originX + x * scaleX, y: originY + y * scaleY };
  }

  viewportToImage(x, y) {
    const { originX, originY, scaleX, scaleY } = this.transform;
    return { x: (x - originX) / scaleX, y: (y - originY) / scaleY };
  }

  /** Page coordinates of an image point (for automation: tests and the benchmark). */
  imageToPage(x, y) {
    const box = this.element.getBoundingClientRect();
    const point = this.imageToViewport(x, y);
    return { x: box.left + point.x, y: box.top + point.y };
  }

  /** Device-pixel position on the shared canvas of an image point (for reading pixels back). */
  imageToCanvas(x, y) {
    const point = this.imageToViewport(x, y);
    return { x: this.rect.x + point.x * this.pixelRatio, y: this.rect.y + point.y * this.pixelRatio };
  }

  /** The modality value of an image pixel, or null (RGB: the three samples). */
  valueAt(column, row) {
    const frame = this.frame;
    if (!frame || column < 0 || row < 0 || column >= frame.columns || row >= frame.rows) return null;
    const values = this.series.values(this.frameIndex);
    if (!values) return null;
    const offset = row * frame.columns + column;
    return frame.dtype === "rgb8" ? Array.from(values.subarray(offset * 3, offset * 3 + 3)) : values[offset];
  }

  /** After the renderer drew this viewport: the text, measurements and layers on top. */
  afterDraw(drawn) {
    if (drawn && this.windowFromValues) {
      this.applyDefaultWindow();
      this.viewer.requestRender(this);
    }
    this.element.dataset.frameIndex = String(this.frameIndex);
    this.element.classList.toggle("has-image", drawn);
    this.overlay.update(this);
    this.measurements.render();
    this.viewer.layers.draw(this.layerCanvas, this);
  }

  // --- the mouse -----------------------------------------------------------------------------
  listen() {
    const element = this.element;
    element.addEventListener("pointerdown", (event) => this.pointerDown(event));
    element.addEventListener("pointermove", (event) => this.pointerMove(event));
    element.addEventListener("pointerup", (event) => this.pointerUp(event));
    element.addEventListener("pointercancel", () => {
      this.drag = null;
    });
    element.addEventListener("pointerleave", () => this.setProbe(""));
    element.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    element.addEventListener("contextmenu", (event) => event.preventDefault());
    element.addEventListener("auxclick", (event) => event.preventDefault());
    element.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("application/x-series-uid")) event.preventDefault();
    });
    element.addEventListener("drop", (event) => {
      const uid = event.dataTransfer.getData("application/x-series-uid");
      if (!uid) return;
      event.preventDefault();
      this.viewer.activate(this);
      this.viewer.showSeries(uid, this);
    });
  }

  localPoint(event) {
    const box = this.element.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  pointerDown(event) {
    this.viewer.activate(this);
    // preventDefault below keeps the browser from moving the focus: take it, so that a field
    // typed in before lets the keyboard shortcuts work again.
    this.element.focus({ preventScroll: true });
    if (!this.series) return;
    event.preventDefault();
    const tool = event.button === 1 ? "pan" : event.button === 2 ? "zoom" : this.viewer.tool;
    const local = this.localPoint(event);
    this.element.setPointerCapture(event.pointerId);
    if (MEASUREMENT_TOOLS.has(tool)) {
      const point = this.viewportToImage(local.x, local.y);
      this.measurements.press(tool, point);
      this.drag = { tool, measuring: true };
      return;
    }
    this.drag = { tool, last: local, start: local, scrollRemainder: 0 };
  }

  pointerMove(event) {
    const local = this.localPoint(event);
    const point = this.viewportToImage(local.x, local.y);
    if (!this.drag) {
      if (this.measurements.drawing) this.measurements.move(point);
      this.updateProbe(point);
      return;
    }
    if (this.drag.measuring) {
      this.measurements.move(point);
      return;
    }
    const dx = local.x - this.drag.last.x;
    const dy = local.y - this.drag.last.y;
    this.drag.last = local;
    switch (this.drag.tool) {
      case "window": {
        // Sensitivity grows with the width, so a narrow brain window and a wide lung one both move.
        const step = Math.max(this.window.width, 20) / 250;
        this.setWindow(this.window.center + dy * step, this.window.width + dx * step);
        break;
      }
      case "pan":
        this.panBy(dx, dy);
        break;
      case "zoom":
        this.zoomAt(Math.exp(-dy * ZOOM_PER_PIXEL), this.drag.start.x, this.drag.start.y);
        break;
      case "scroll": {
        const pixelsPerFrame = Math.max(2, Math.min(12, this.size.height / Math.max(1, this.series.count)));
        this.drag.scrollRemainder += dy;
        const steps = Math.trunc(this.drag.scrollRemainder / pixelsPerFrame);
        if (steps) {
          this.drag.scrollRemainder -= steps * pixelsPerFrame;
          this.scrollBy(steps);
        }
        break;
      }
    }
  }

  pointerUp(event) {
    if (!this.drag) return;
    if (this.drag.measuring) {
      const local = this.localPoint(event);
      this.measurements.release(this.viewportToImage(local.x, local.y));
    }
    this.drag = null;
  }

  wheel(event) {
    if (!this.series) return;
    event.preventDefault();
    this.viewer.activate(this);
    const pixels = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? event.deltaY * WHEEL_STEP_PIXELS : event.deltaY;
    if (event.ctrlKey) {
      const local = this.localPoint(event);
      this.zoomAt(Math.exp(-pixels * 0.002), local.x, local.y);
      return;
    }
    // One frame per notch however large the notch; small deltas add up to a frame.
    if (Math.abs(pixels) >= WHEEL_STEP_PIXELS) {
      this.wheelRemainder = 0;
      this.scrollBy(Math.sign(pixels));
      return;
    }
    this.wheelRemainder += pixels;
    if (Math.abs(this.wheelRemainder) >= WHEEL_STEP_PIXELS) {
      this.scrollBy(Math.sign(this.wheelRemainder));
      this.wheelRemainder = 0;
    }
  }

  updateProbe(point) {
    const column = Math.floor(point.x);
    const row = Math.floor(point.y);
    const value = this.valueAt(column, row);
    if (value === null) {
      this.setProbe("");
      return;
    }
    const shown = Array.isArray(value) ? value.join(" ") : Number.isInteger(value) ? value : value.toFixed(2);
    const unit = this.series.modality === "CT" && !Array.isArray(value) ? " HU" : "";
    this.setProbe(`(${column}, ${row}) ${shown}${unit}`);
  }

  setProbe(probe) {
    if (probe === this.probe) return;
    this.probe = probe;
    this.overlay.update(this);
  }
}
