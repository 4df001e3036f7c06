// What the reader draws over each viewport (a layer of layers.js, above the AI's): the findings the
// reader added, in their own colour, and the shape being corrected or drawn, with its handles.
// Like ai-layer.js, geometry is mapped to device pixels first: widths stay constant at any zoom.

import { findingCaption } from "./ai-layer.js";
import { handlesOf } from "./reading-geometry.js";

export const READER_COLOUR = "#35d0ff";
const DRAFT_COLOUR = "#ffffff";
const HANDLE_SIZE = 4;
const POINT_RADIUS = 7;

export class ReadingLayer {
  constructor() {
    /** @type {object[]} the reader's added findings, as reading_state.py sends them */
    this.readerFindings = [];
    /** @type {{kind: string, geometry: any, sop_uid: string, frame: number, series_uid: string, handles: boolean}|null} */
    this.draft = null;
    this.enabled = true;
  }

  get layer() {
    return { name: "reading", visible: true, draw: (context, viewport) => this.draw(context, viewport) };
  }

  draw(context, viewport) {
    const frame = viewport.frame;
    if (!frame) return;
    const matrix = context.getTransform();
    const toDevice = (x, y) => [matrix.a * x + matrix.c * y + matrix.e, matrix.b * x + matrix.d * y + matrix.f];
    const ratio = viewport.pixelRatio;
    context.save();
    context.setTransform(1, 0, 0, 1, 0, 0);
    if (this.enabled) {
      for (const added of this.readerFindings) {
        if (added.sop_uid !== frame.sop_uid || added.frame !== frame.frame) continue;
        stroke(context, added.geometry_kind, added.geometry, toDevice, ratio, READER_COLOUR, added.label || findingCaption(added));
      }
    }
    const draft = this.draft;
    if (draft && this.draftShownOn(draft, viewport)) {
      context.setLineDash([5 * ratio, 3 * ratio]);
      stroke(context, draft.kind, draft.geometry, toDevice, ratio, DRAFT_COLOUR, "", draft.open);
      context.setLineDash([]);
      if (draft.handles) {
        context.fillStyle = DRAFT_COLOUR;
        context.strokeStyle = "#000";
        context.lineWidth = ratio;
        for (const [x, y] of handlesOf(draft.kind, draft.geometry)) {
          const [dx, dy] = toDevice(x, y);
          const size = HANDLE_SIZE * ratio;
          context.fillRect(dx - size, dy - size, 2 * size, 2 * size);
          context.strokeRect(dx - size, dy - size, 2 * size, 2 * size);
        }
      }
    }
    context.restore();
  }

  draftShownOn(draft, viewport) {
    if (!draft.geometry) return false;
    if (draft.kind === "box3d") {
      const { min, max } = draft.geometry;
      return viewport.series?.uid === draft.series_uid && viewport.frameIndex >= min[2] && viewport.frameIndex <= max[2];
    }
    return viewport.frame.sop_uid === draft.sop_uid && viewport.frame.frame === draft.frame;
  }
}

function stroke(context, kind, geometry, toDevice, ratio, colour, caption, open = false) {
  context.strokeStyle = colour;
  context.fillStyle = colour;
  context.lineWidth = 2 * ratio;
  context.beginPath();
  let points;
  switch (kind) {
    case "point": {
      const [x, y] = toDevice(geometry[0], geometry[1]);
      const radius = POINT_RADIUS * ratio;
      context.moveTo(x + radius, y);
      context.arc(x, y, radius, 0, 2 * Math.PI);
      context.moveTo(x - radius, y - radius);
      context.lineTo(x + radius, y + radius);
      context.moveTo(x + radius, y - radius);
      context.lineTo(x - radius, y + radius);
      points = [[x + radius, y - radius]];
      break;
    }
    case "box":
    case "box3d": {
      const [x0, y0, x1, y1] = kind === "box" ? geometry : [...geometry.min.slice(0, 2), ...geometry.max.slice(0, 2)];
      points = [toDevice(x0, y0), toDevice(x1, y0), toDevice(x1, y1), toDevice(x0, y1)];
      path(context, points, false);
      break;
    }
    case "polygon":
      if (geometry.length === 0) return;
      points = geometry.map(([x, y]) => toDevice(x, y));
      path(context, points, open);
      break;
    default:
      return;
  }
  context.stroke();
  if (!caption) return;
  const left = Math.min(...points.map((point) => point[0]));
  const top = Math.min(...points.map((point) => point[1]));
  context.font = `600 ${12 * ratio}px system-ui, sans-serif`;
  context.textBaseline = "bottom";
  context.lineWidth = 3 * ratio;
  context.strokeStyle = "#000";
  context.lineJoin = "round";
  const place = [Math.max(left, 2 * ratio), Math.max(top - 3 * ratio, 14 * ratio)];
  context.strokeText(caption, ...place);
  context.fillText(caption, ...place);
}

function path(context, points, open) {
  context.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) context.lineTo(x, y);
  if (!open) context.closePath();
}
