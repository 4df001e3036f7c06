// The AI drawn over each viewport through the layer hook (layers.js): heatmaps in image pixels,
// then findings (point, box, outline, 3D box on every slice it spans) with "Type score" labels in
// their model's colour. Findings scoring under their model's threshold are dashed and dimmer.
// Geometry is mapped to device pixels before stroking, so lines and text keep their width at any
// zoom. Lookups are by (SOP Instance UID, frame) and by series: scrolling stays cheap.

import { HeatmapBitmaps } from "./ai-heatmaps.js";

const PREFETCH_SLICES = 3;
const BELOW_THRESHOLD_ALPHA = 0.6;
const POINT_RADIUS = 7;
const REJECTED_ALPHA = 0.4;

export class AiLayer {
  /** @param {import("./viewer.js").Viewer} viewer */
  constructor(viewer) {
    this.viewer = viewer;
    this.enabled = true;
    /** @type {Set<number>} ids of models switched off in the panel */
    this.hiddenModels = new Set();
    this.heatmap = { opacity: 0.6, threshold: 0.2, mode: "fill" };
    this.selected = null;
    /** The reader's view of a finding (reading-controller.js): its corrected shape and verdict, or null to hide it. */
    this.adjust = null;
    this.bitmaps = new HeatmapBitmaps(() => this.redraw());
    this.setModels([]);
    this.redrawRequested = false;
    // Marks and labels grow with the page's text (the root font size follows the window: 4K).
    this.uiScale = 1;
    const measure = () => (this.uiScale = Math.max(1, parseFloat(getComputedStyle(document.documentElement).fontSize) / 15));
    measure();
    window.addEventListener("resize", measure);
  }

  /** The hook's layer object: the list copies it, so its draw calls back here. */
  get layer() {
    return { name: "ai", visible: true, draw: (context, viewport) => this.draw(context, viewport) };
  }

  /** @param {object[]} models the results endpoint's models */
  setModels(models) {
    this.models = models;
    this.byFrame = new Map(); // "sop|frame" -> [{finding, model}]
    this.bySeries = new Map(); // series uid -> [{finding, model}] (3D boxes)
    this.heatmapsByFrame = new Map(); // "sop|frame" -> [{heatmap, model}]
    for (const entry of models) {
      for (const finding of entry.findings) {
        const item = { finding, model: entry.model };
        if (finding.geometry_kind === "box3d") push(this.bySeries, finding.series_uid, item);
        else if (finding.geometry_kind !== "none") push(this.byFrame, `${finding.sop_uid}|${finding.frame}`, item);
      }
      for (const heatmap of entry.heatmaps) push(this.heatmapsByFrame, `${heatmap.sop_uid}|${heatmap.frame}`, { heatmap, model: entry.model });
    }
    this.bitmaps.clear();
    this.redraw();
  }

  /** Redraw the layer canvases once, at the next display frame. */
  redraw() {
    if (this.redrawRequested) return;
    this.redrawRequested = true;
    requestAnimationFrame(() => {
      this.redrawRequested = false;
      for (const viewport of this.viewer.viewports) this.viewer.layers.draw(viewport.layerCanvas, viewport);
    });
  }

  draw(context, viewport) {
    const frame = viewport.frame;
    if (!this.enabled || !frame) return;
    const key = `${frame.sop_uid}|${frame.frame}`;
    this.drawHeatmaps(context, viewport, this.heatmapsByFrame.get(key) ?? []);
    const items = [...(this.byFrame.get(key) ?? [])];
    for (const item of this.bySeries.get(viewport.series.uid) ?? []) {
      const { min, max } = item.finding.geometry;
      if (viewport.frameIndex >= min[2] && viewport.frameIndex <= max[2]) items.push(item);
    }
    const shown = items
      .filter((item) => !this.hiddenModels.has(item.model.id))
      .map((item) => (this.adjust ? this.adjust(item) : item))
      .filter(Boolean);
    if (shown.length === 0) return;
    // Device pixels from here on: constant line widths and text sizes.
    const matrix = context.getTransform();
    context.save();
    context.setTransform(1, 0, 0, 1, 0, 0);
    const ratio = viewport.pixelRatio * this.uiScale;
    for (const item of shown) drawFinding(context, item, (x, y) => devicePoint(matrix, x, y), ratio, item.finding.id === this.selected);
    context.restore();
  }

  drawHeatmaps(context, viewport, heatmaps) {
    const { opacity, mode } = this.heatmap;
    const threshold = Math.round(this.heatmap.threshold * 255);
    const frame = viewport.frame;
    context.imageSmoothingEnabled = mode === "fill";
    context.globalAlpha = opacity;
    for (const { heatmap, model } of heatmaps) {
      if (this.hiddenModels.has(model.id)) continue;
      const bitmap = this.bitmaps.get(heatmap, threshold, mode);
      if (bitmap) context.drawImage(bitmap, 0, 0, frame.columns, frame.rows);
    }
    context.globalAlpha = 1;
    this.prefetch(viewport, threshold, mode);
  }

  /** Start the heatmaps of the neighbouring slices, so scrolling finds them ready. */
  prefetch(viewport, threshold, mode) {
    if (this.heatmapsByFrame.size === 0) return;
    const frames = viewport.series.frames;
    const first = Math.max(0, viewport.frameIndex - PREFETCH_SLICES);
    const last = Math.min(frames.length - 1, viewport.frameIndex + PREFETCH_SLICES);
    for (let index = first; index <= last; index += 1) {
      for (const { heatmap, model } of this.heatmapsByFrame.get(`${frames[index].sop_uid}|${frames[index].frame}`) ?? []) {
        if (!this.hiddenModels.has(model.id)) this.bitmaps.get(heatmap, threshold, mode);
      }
    }
  }
}

function push(map, key, value) {
  if (!map.has(key)) map.set(key, []);
  map.get(key).push(value);
}

function devicePoint(matrix, x, y) {
  return [matrix.a * x + matrix.c * y + matrix.e, matrix.b * x + matrix.d * y + matrix.f];
}

/** "Nodule 91": the finding type in words and its rounded score. */
export function findingCaption(finding) {
  const type = finding.type.replaceAll(/[-_]/g, " ");
  const name = type.charAt(0).toUpperCase() + type.slice(1);
  return finding.score === null || finding.score === undefined ? name : `${name} ${Math.round(finding.score)}`;
}

function drawFinding(context, { finding, model, dimmed }, toDevice, ratio, selected) {
  const geometry = finding.geometry;
  context.save();
  context.strokeStyle = model.colour;
  context.fillStyle = model.colour;
  context.lineWidth = (selected ? 3 : 2) * ratio;
  if (selected) {
    // A white glow: the selected finding stands out whatever its colour.
    context.shadowColor = "#fff";
    context.shadowBlur = 6 * ratio;
  }
  if (dimmed) {
    // Rejected by the reader: still there to look at, plainly not in force.
    context.globalAlpha = REJECTED_ALPHA;
    context.setLineDash([2 * ratio, 4 * ratio]);
  } else if (!finding.above_threshold) {
    context.globalAlpha = BELOW_THRESHOLD_ALPHA;
    context.setLineDash([6 * ratio, 4 * ratio]);
  }
  let anchor;
  context.beginPath();
  switch (finding.geometry_kind) {
    case "point": {
      const [x, y] = toDevice(geometry[0], geometry[1]);
      const radius = POINT_RADIUS * ratio;
      context.arc(x, y, radius, 0, 2 * Math.PI);
      context.moveTo(x - radius * 1.8, y);
      context.lineTo(x - radius * 0.5, y);
      context.moveTo(x + radius * 0.5, y);
      context.lineTo(x + radius * 1.8, y);
      context.moveTo(x, y - radius * 1.8);
      context.lineTo(x, y - radius * 0.5);
      context.moveTo(x, y + radius * 0.5);
      context.lineTo(x, y + radius * 1.8);
      anchor = [x + radius * 1.2, y - radius * 1.2];
      break;
    }
    case "box":
    case "box3d": {
      const [x0, y0, x1, y1] = finding.geometry_kind === "box" ? geometry : [...geometry.min.slice(0, 2), ...geometry.max.slice(0, 2)];
      const corners = [toDevice(x0, y0), toDevice(x1, y0), toDevice(x1, y1), toDevice(x0, y1)];
      outline(context, corners);
      anchor = topLeft(corners);
      break;
    }
    case "polygon": {
      const points = geometry.map(([x, y]) => toDevice(x, y));
      outline(context, points);
      anchor = topLeft(points);
      break;
    }
    default:
      context.restore();
      return;
  }
  context.stroke();
  context.setLineDash([]);
  label(context, findingCaption(finding), anchor, ratio);
  context.restore();
}

function outline(context, points) {
  context.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) context.lineTo(x, y);
  context.closePath();
}

function topLeft(points) {
  return [Math.min(...points.map((point) => point[0])), Math.min(...points.map((point) => point[1]))];
}

function label(context, caption, [x, y], ratio) {
  context.font = `600 ${12 * ratio}px system-ui, sans-serif`;
  context.textBaseline = "bottom";
  context.lineWidth = 3 * ratio;
  context.strokeStyle = "#000";
  context.lineJoin = "round";
  const place = [Math.max(x, 2 * ratio), Math.max(y - 3 * ratio, 14 * ratio)];
  context.strokeText(caption, ...place);
  context.fillText(caption, ...place);
}
