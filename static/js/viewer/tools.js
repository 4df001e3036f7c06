// Measurements in image coordinates (continuous: pixel (c, r) covers [c, c+1) x [r, r+1)), kept
// per frame and drawn as SVG over the viewport. Distances use Pixel Spacing ([row, column] mm:
// the spacing between rows is vertical, between columns horizontal); without it, pixels.

import { text } from "./strings.js";

export const MEASUREMENT_TOOLS = new Set(["length", "angle", "ellipse"]);
const SVG = "http://www.w3.org/2000/svg";

/** Millimetres per pixel as [horizontal, vertical], or null without Pixel Spacing. */
export function spacingOf(frame) {
  const spacing = frame.pixel_spacing;
  return spacing && spacing[0] > 0 && spacing[1] > 0 ? [spacing[1], spacing[0]] : null;
}

/** Length of a segment in mm (or pixels without spacing). */
export function segmentLength(start, end, spacing) {
  const [across, down] = spacing ?? [1, 1];
  return Math.hypot((end.x - start.x) * across, (end.y - start.y) * down);
}

/** The angle at `vertex` between the arms to `first` and `last`, in degrees, in mm space. */
export function angleAt(first, vertex, last, spacing) {
  const [across, down] = spacing ?? [1, 1];
  const ax = (first.x - vertex.x) * across;
  const ay = (first.y - vertex.y) * down;
  const bx = (last.x - vertex.x) * across;
  const by = (last.y - vertex.y) * down;
  const lengths = Math.hypot(ax, ay) * Math.hypot(bx, by);
  if (lengths === 0) return 0;
  return (Math.acos(Math.min(1, Math.max(-1, (ax * bx + ay * by) / lengths))) * 180) / Math.PI;
}

/**
 * Mean and standard deviation (population) of the values of the pixels whose centres lie in the
 * ellipse inscribed in the box between two corners; RGB frames give the mean of the channels.
 */
export function ellipseStatistics(values, frame, corner, opposite) {
  const channels = frame.dtype === "rgb8" ? 3 : 1;
  const centreX = (corner.x + opposite.x) / 2;
  const centreY = (corner.y + opposite.y) / 2;
  const radiusX = Math.abs(opposite.x - corner.x) / 2;
  const radiusY = Math.abs(opposite.y - corner.y) / 2;
  let count = 0;
  let sum = 0;
  let squares = 0;
  if (radiusX > 0 && radiusY > 0) {
    const top = Math.max(0, Math.floor(centreY - radiusY));
    const bottom = Math.min(frame.rows - 1, Math.ceil(centreY + radiusY));
    const left = Math.max(0, Math.floor(centreX - radiusX));
    const right = Math.min(frame.columns - 1, Math.ceil(centreX + radiusX));
    for (let row = top; row <= bottom; row += 1) {
      const dy = (row + 0.5 - centreY) / radiusY;
      for (let column = left; column <= right; column += 1) {
        const dx = (column + 0.5 - centreX) / radiusX;
        if (dx * dx + dy * dy > 1) continue;
        let value = 0;
        for (let channel = 0; channel < channels; channel += 1) {
          value += values[(row * frame.columns + column) * channels + channel];
        }
        value /= channels;
        count += 1;
        sum += value;
        squares += value * value;
      }
    }
  }
  const mean = count ? sum / count : 0;
  const deviation = count ? Math.sqrt(Math.max(0, squares / count - mean * mean)) : 0;
  return { mean, deviation, count, centreX, centreY, radiusX, radiusY };
}

function formatNumber(value, digits = 1) {
  return Number(value).toFixed(digits);
}

/** The label of a measurement: mm or px, degrees, or ROI statistics. */
function describe(measurement, series) {
  const frame = series.frames[measurement.frameIndex];
  const spacing = spacingOf(frame);
  const [first, second, third] = measurement.points;
  if (measurement.tool === "length") {
    const value = segmentLength(first, second, spacing);
    return { value, label: text(spacing ? "millimetres" : "pixels", { value: formatNumber(value) }) };
  }
  if (measurement.tool === "angle") {
    if (!third) return { value: null, label: "" };
    const value = angleAt(first, second, third, spacing);
    return { value, label: text("degrees", { value: formatNumber(value) }) };
  }
  const values = series.values(measurement.frameIndex);
  if (!values) return { value: null, label: "" };
  const statistics = ellipseStatistics(values, frame, first, second);
  const key = series.modality === "CT" ? "roiHounsfield" : "roi";
  return {
    value: statistics.mean,
    deviation: statistics.deviation,
    count: statistics.count,
    label: text(key, {
      mean: formatNumber(statistics.mean),
      sd: formatNumber(statistics.deviation),
      count: statistics.count,
    }),
  };
}

/** Where a label goes: beside a length's middle, at an angle's vertex, right of an ellipse. */
function labelAnchor(tool, points) {
  const [first, second] = points;
  if (tool === "angle") return { x: second.x + 8, y: second.y - 8 };
  if (tool === "ellipse") return { x: Math.max(first.x, second.x) + 6, y: (first.y + second.y) / 2 };
  return { x: (first.x + second.x) / 2 + 6, y: (first.y + second.y) / 2 - 8 };
}

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent) parent.append(node);
  return node;
}

/**
 * The measurements of one viewport: drawing them with the mouse, keeping them per frame, and
 * showing those of the shown frame.
 */
export class Measurements {
  /**
   * @param {SVGSVGElement} svg
   * @param {import("./viewport.js").Viewport} viewport
   */
  constructor(svg, viewport) {
    this.svg = svg;
    this.viewport = viewport;
    /** @type {Map<string, object[]>} */
    this.byFrame = new Map();
    this.drawing = null;
  }

  key(series = this.viewport.series, frameIndex = this.viewport.frameIndex) {
    return `${series.uid}#${frameIndex}`;
  }

  current() {
    return this.viewport.series ? this.byFrame.get(this.key()) ?? [] : [];
  }

  /** A press of the left button with a measurement tool; true when the press was used. */
  press(tool, point) {
    if (!this.viewport.series) return false;
    if (this.drawing?.tool === "angle" && this.drawing.points.length === 3) {
      this.drawing.points[2] = point;
      this.finish();
      return true;
    }
    this.drawing = { tool, frameIndex: this.viewport.frameIndex, points: [point, { ...point }] };
    this.render();
    return true;
  }

  /** The pointer moved: the measurement in progress follows it. */
  move(point) {
    if (!this.drawing) return;
    this.drawing.points[this.drawing.points.length - 1] = point;
    this.render();
  }

  /** The button went up: lengths and ellipses end, an angle now waits for its second arm. */
  release(point) {
    if (!this.drawing) return;
    this.drawing.points[this.drawing.points.length - 1] = point;
    if (this.drawing.tool === "angle" && this.drawing.points.length === 2) {
      this.drawing.points.push({ ...point });
      this.render();
      return;
    }
    this.finish();
  }

  finish() {
    const measurement = this.drawing;
    this.drawing = null;
    const [first, second] = measurement.points;
    if (Math.hypot(second.x - first.x, second.y - first.y) < 0.5) {
      this.render();
      return; // a click, not a measurement
    }
    const key = this.key();
    this.byFrame.set(key, [...(this.byFrame.get(key) ?? []), measurement]);
    this.render();
  }

  cancel() {
    const had = Boolean(this.drawing);
    this.drawing = null;
    this.render();
    return had;
  }

  removeLast() {
    const list = this.current();
    if (list.length === 0) return false;
    list.pop();
    this.render();
    return true;
  }

  clear() {
    this.byFrame.clear();
    this.drawing = null;
    this.render();
  }

  /** Redraw the SVG for the shown frame and the current transform. */
  render() {
    this.svg.replaceChildren();
    const viewport = this.viewport;
    if (!viewport.series) return;
    const list = [...this.current()];
    if (this.drawing && this.drawing.frameIndex === viewport.frameIndex) list.push(this.drawing);
    for (const measurement of list) this.drawOne(measurement, measurement === this.drawing);
  }

  drawOne(measurement, inProgress) {
    const viewport = this.viewport;
    const points = measurement.points.map((point) => viewport.imageToViewport(point.x, point.y));
    const group = element("g", { class: `measurement ${measurement.tool}${inProgress ? " drawing" : ""}` }, this.svg);
    if (measurement.tool === "ellipse") {
      const [first, second] = points;
      element(
        "ellipse",
        {
          cx: (first.x + second.x) / 2,
          cy: (first.y + second.y) / 2,
          rx: Math.abs(second.x - first.x) / 2,
          ry: Math.abs(second.y - first.y) / 2,
        },
        group,
      );
    } else {
      element("polyline", { points: points.map((point) => `${point.x},${point.y}`).join(" ") }, group);
    }
    if (measurement.tool !== "ellipse") {
      for (const point of points) element("circle", { cx: point.x, cy: point.y, r: 3 }, group);
    }
    const description = describe(measurement, viewport.series);
    if (!description.label) return;
    const anchor = labelAnchor(measurement.tool, points);
    const label = element(
      "text",
      {
        x: anchor.x,
        y: anchor.y,
        class: "measurement-label",
        "data-kind": measurement.tool,
        "data-value": description.value,
      },
      group,
    );
    if (description.deviation !== undefined) label.setAttribute("data-deviation", String(description.deviation));
    if (description.count !== undefined) label.setAttribute("data-count", String(description.count));
    label.textContent = description.label;
  }
}
