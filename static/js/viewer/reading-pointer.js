// The mouse while the reader corrects a finding (drag a handle, or the shape to move it) or draws a
// missed one (a point, a box, an outline). Listens on the viewport grid in the capture phase, so it
// sees a press before the viewport's own tools; presses it does not want go on to them.

import { contains, copyGeometry, handlesOf, isComplete, moveHandle, tidy, translate } from "./reading-geometry.js";

const HANDLE_REACH = 9; // CSS pixels around a handle that still grab it
const MOVE_SLACK = 6;

export class ReadingPointer {
  /**
   * @param {import("./viewer.js").Viewer} viewer
   * @param {import("./reading-layer.js").ReadingLayer} layer
   * @param {() => void} redraw
   */
  constructor(viewer, layer, redraw) {
    this.viewer = viewer;
    this.layer = layer;
    this.redraw = redraw;
    /** "edit", "draw" or null */
    this.mode = null;
    this.kind = "box";
    this.drag = null;
    /** Called when a drawing is complete (draw mode) or a handle let go (edit mode). */
    this.onShape = () => {};
    const grid = viewer.root.querySelector("#viewport-grid");
    this.grid = grid;
    grid.addEventListener("pointerdown", (event) => this.down(event), true);
    grid.addEventListener("pointermove", (event) => this.move(event), true);
    grid.addEventListener("pointerup", (event) => this.up(event), true);
    grid.addEventListener("dblclick", (event) => this.closeOutline(event), true);
  }

  /** Correct `geometry` of kind `kind` shown on (sop_uid, frame) or, for a 3D box, on its series. */
  edit({ kind, geometry, sop_uid, frame, series_uid }) {
    this.mode = "edit";
    this.kind = kind;
    this.layer.draft = { kind, geometry: copyGeometry(geometry), sop_uid, frame, series_uid, handles: kind !== "none" };
    this.grid.classList.add("reading-editing");
    this.redraw();
  }

  draw(kind) {
    this.mode = "draw";
    this.kind = kind;
    this.layer.draft = null;
    this.grid.classList.add("reading-drawing");
    this.redraw();
  }

  stop() {
    this.mode = null;
    this.drag = null;
    this.layer.draft = null;
    this.grid.classList.remove("reading-editing", "reading-drawing");
    this.redraw();
  }

  get draft() {
    return this.layer.draft;
  }

  /** The drawn shape is done (an outline once closed). */
  get complete() {
    const draft = this.layer.draft;
    return Boolean(draft) && !draft.open && isComplete(draft.kind, draft.geometry);
  }

  viewportOf(event) {
    return this.viewer.viewports.find((viewport) => viewport.element.contains(event.target)) ?? null;
  }

  take(event, viewport) {
    event.stopPropagation();
    event.preventDefault();
    this.viewer.activate(viewport);
    viewport.element.focus({ preventScroll: true });
    viewport.element.setPointerCapture(event.pointerId);
  }

  down(event) {
    if (!this.mode || event.button !== 0) return;
    const viewport = this.viewportOf(event);
    if (!viewport?.frame) return;
    const local = viewport.localPoint(event);
    const point = viewport.viewportToImage(local.x, local.y);
    if (this.mode === "edit") this.grab(event, viewport, local, point);
    else this.press(event, viewport, point);
  }

  grab(event, viewport, local, point) {
    const draft = this.layer.draft;
    if (!draft?.handles || !this.layer.draftShownOn(draft, viewport)) return;
    const handles = handlesOf(draft.kind, draft.geometry);
    const index = handles.findIndex(([x, y]) => {
      const at = viewport.imageToViewport(x, y);
      return Math.hypot(at.x - local.x, at.y - local.y) <= HANDLE_REACH;
    });
    const slack = MOVE_SLACK / viewport.transform.scaleX;
    if (index < 0 && !contains(draft.kind, draft.geometry, point.x, point.y, slack)) return;
    this.take(event, viewport);
    this.drag = { viewport, index, last: point };
  }

  press(event, viewport, point) {
    this.take(event, viewport);
    const frame = viewport.frame;
    const place = { sop_uid: frame.sop_uid, frame: frame.frame, series_uid: viewport.series.uid, handles: false };
    const here = [point.x, point.y];
    const draft = this.layer.draft;
    if (this.kind === "point") {
      this.layer.draft = { kind: "point", geometry: this.onImage("point", here, frame), ...place };
      this.finish();
      return;
    }
    if (this.kind === "box") {
      this.layer.draft = { kind: "box", geometry: [...here, ...here], ...place };
      this.drag = { viewport, box: true };
      this.redraw();
      return;
    }
    // An outline: a press adds a point; a press on its first point closes it.
    const sameImage = draft?.open && draft.sop_uid === place.sop_uid && draft.frame === place.frame;
    if (!sameImage) {
      this.layer.draft = { kind: "polygon", geometry: [this.onImage("point", here, frame)], open: true, ...place };
    } else {
      const first = viewport.imageToViewport(...draft.geometry[0]);
      const local = viewport.imageToViewport(...here);
      if (draft.geometry.length >= 3 && Math.hypot(first.x - local.x, first.y - local.y) <= HANDLE_REACH) {
        this.closeOutline();
        return;
      }
      draft.geometry.push(this.onImage("point", here, frame));
    }
    this.redraw();
  }

  move(event) {
    if (!this.drag) return;
    event.stopPropagation();
    const { viewport } = this.drag;
    const local = viewport.localPoint(event);
    const point = viewport.viewportToImage(local.x, local.y);
    const draft = this.layer.draft;
    if (this.drag.box) {
      draft.geometry = [draft.geometry[0], draft.geometry[1], point.x, point.y];
    } else if (this.drag.index >= 0) {
      draft.geometry = moveHandle(draft.kind, draft.geometry, this.drag.index, point.x, point.y);
    } else {
      draft.geometry = translate(draft.kind, draft.geometry, point.x - this.drag.last.x, point.y - this.drag.last.y);
      this.drag.last = point;
    }
    this.redraw();
  }

  up(event) {
    if (!this.drag) return;
    event.stopPropagation();
    const frame = this.drag.viewport.frame;
    const draft = this.layer.draft;
    draft.geometry = this.onImage(draft.kind, draft.geometry, frame);
    this.drag = null;
    if (this.mode === "draw") this.finish();
    else this.onShape(draft);
    this.redraw();
  }

  /** Enter or a double click: the outline being drawn is closed (three points at least). */
  closeOutline(event) {
    const draft = this.layer.draft;
    if (this.mode !== "draw" || !draft?.open) return false;
    event?.stopPropagation();
    event?.preventDefault();
    // A double click pressed twice on its last point: one of them is not a vertex.
    const points = draft.geometry.filter((point, index, all) => index === 0 || Math.hypot(point[0] - all[index - 1][0], point[1] - all[index - 1][1]) > 0.5);
    if (points.length < 3) return false;
    draft.geometry = points;
    draft.open = false;
    this.finish();
    return true;
  }

  finish() {
    this.redraw();
    if (this.complete) this.onShape(this.layer.draft);
  }

  onImage(kind, geometry, frame) {
    return tidy(kind, geometry, frame.columns, frame.rows);
  }
}
