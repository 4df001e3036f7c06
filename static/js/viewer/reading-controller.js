// The read, put together on the viewer page: the verdict on each AI finding (accept, reject with a
// reason, correct its shape or label, undo), the findings the AI missed, and the report tab.
// Everything is saved at once; a user who may not change the reading sees it with the reason.

import { copyGeometry } from "./reading-geometry.js";
import { ReadingLayer } from "./reading-layer.js";
import { installReadingKeys } from "./reading-keys.js";
import { ReadingPanel, text } from "./reading-panel.js";
import { ReadingPointer } from "./reading-pointer.js";
import { ReadingReport } from "./reading-report.js";
import { ReadingState } from "./reading-state.js";

/** The contract's bare geometry: intake and the reader's rows keep 2D shapes under their kind. */
export function plainGeometry(kind, geometry) {
  return geometry && typeof geometry === "object" && !Array.isArray(geometry) && kind in geometry ? geometry[kind] : geometry;
}

export class ReadingController {
  /**
   * @param {HTMLElement} root the .ai-panel element
   * @param {import("./viewer.js").Viewer} viewer
   * @param {import("./ai-overlays.js").AiOverlays} ai
   */
  constructor(root, viewer, ai) {
    this.root = root;
    this.viewer = viewer;
    this.ai = ai;
    this.state = new ReadingState(root.dataset.decisionsUrl, root.dataset.csrfToken);
    this.panel = new ReadingPanel(root);
    this.report = new ReadingReport(root);
    this.layer = new ReadingLayer();
    viewer.addLayer(this.layer.layer);
    this.pointer = new ReadingPointer(viewer, this.layer, () => ai.layer.redraw());
    this.pointer.onShape = () => this.shapeDrawn();
    /** "reject", "edit", "add" or null: the open form of the reading bar */
    this.dialog = null;
    this.editing = null;
    ai.layer.adjust = (item) => this.adjust(item);
    this.state.addEventListener("change", (event) => this.stateChanged(event.detail));
    root.addEventListener("ai-rendered", () => this.render());
    this.report.addEventListener("swapped", (event) => {
      // Signed: the decisions are locked now, and the panel says so.
      if (event.detail.signed && this.state.mayEdit) this.reload();
    });
    this.wire();
    installReadingKeys(this);
  }

  async start() {
    try {
      await this.state.load();
    } catch (error) {
      this.panel.notice(text("failed", { reason: error.message }), true);
    }
  }

  reload() {
    return this.state.load().catch((error) => this.panel.notice(text("failed", { reason: error.message }), true));
  }

  get selected() {
    return this.ai.layer.selected ?? null;
  }

  get mayEdit() {
    return this.state.mayEdit;
  }

  wire() {
    const root = this.root;
    root.querySelector(".reading-actions").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-reading]");
      if (button) this.act(button.dataset.reading);
    });
    // After the AI panel's own click (which jumps to the finding): the selection, whole-study too.
    root.querySelector("#ai-models").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-finding-id]");
      if (button) this.select(Number(button.dataset.findingId), { jump: false });
    });
    root.querySelector("#reader-finding-list").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-remove-reader-finding]");
      if (!button) return;
      const added = this.state.readerFindings.find((item) => item.id === Number(button.dataset.removeReaderFinding));
      if (added) this.state.remove(added);
    });
    for (const form of root.querySelectorAll(".reading-dialog")) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.confirm();
      });
      form.addEventListener("click", (event) => {
        if (event.target.closest("[data-reading=cancel]")) this.cancel();
      });
    }
    root.querySelector("#reading-reasons").addEventListener("click", (event) => {
      if (event.target.closest("input")) root.querySelector("#reading-reject").focus();
    });
    for (const radio of root.querySelectorAll("input[name=reading-kind]")) {
      radio.addEventListener("change", () => this.drawKind(radio.value));
    }
  }

  stateChanged({ notice, isError }) {
    if (notice) this.panel.notice(notice, isError);
    if (!this.state.mayEdit && this.dialog) this.close();
    this.layer.readerFindings = this.state.readerFindings.map((added) => ({
      ...added,
      geometry: plainGeometry(added.geometry_kind, added.geometry),
    }));
    this.render();
    this.report.refresh();
  }

  render() {
    this.panel.render(this.state, this.selected, this.ai.panel.findings);
    this.report.update(this.state.undecided.length, this.state.mayEdit);
    this.root.dataset.readingState = this.state.loaded ? (this.state.mayEdit ? "editable" : "read-only") : "loading";
    this.ai.layer.redraw();
  }

  /** The reader's view of an AI finding on the image: corrected shape, rejected dimmed, hidden while edited. */
  adjust(item) {
    const reading = this.state.findings.get(item.finding.id);
    if (this.editing === item.finding.id && this.layer.draft) return null;
    if (!reading?.current) return item;
    const current = reading.current;
    if (reading.verdict === "modified" && current.geometry_kind) {
      const finding = { ...item.finding, geometry_kind: current.geometry_kind, geometry: plainGeometry(current.geometry_kind, current.geometry) };
      return { ...item, finding };
    }
    return reading.verdict === "rejected" ? { ...item, dimmed: true } : item;
  }

  /** The finding as the reader sees it now: its corrected shape and label when modified. */
  effective(id) {
    const finding = this.ai.panel.findings.get(id);
    const current = this.state.findings.get(id)?.current;
    if (current?.verdict === "modified") {
      const kind = current.geometry_kind || finding.geometry_kind;
      const geometry = current.geometry_kind ? plainGeometry(kind, current.geometry) : finding.geometry;
      return { ...finding, geometry_kind: kind, geometry, label: current.label || finding.label };
    }
    return finding;
  }

  // --- selection ---------------------------------------------------------------------------------

  select(id, { jump = true } = {}) {
    const finding = this.ai.panel.findings.get(id);
    if (!finding) return;
    if (this.dialog) this.cancel();
    if (jump && finding.geometry_kind !== "none") this.ai.panel.show(finding);
    this.ai.layer.selected = id;
    this.render();
    this.root.querySelector(`button[data-finding-id="${id}"]`)?.scrollIntoView({ block: "nearest" });
  }

  /** J / K: the next (or previous) AI finding, the first undecided ones are not skipped. */
  step(direction) {
    const ids = this.state.loaded ? this.panel.findingIds() : [];
    if (ids.length === 0) return;
    const at = ids.indexOf(this.selected);
    const next = at < 0 ? (direction > 0 ? 0 : ids.length - 1) : (at + direction + ids.length) % ids.length;
    this.select(ids[next]);
  }

  deselect() {
    if (this.selected === null) return false;
    this.ai.layer.selected = null;
    for (const button of this.root.querySelectorAll("button[data-finding-id]")) button.setAttribute("aria-current", "false");
    this.render();
    return true;
  }

  // --- verdicts ----------------------------------------------------------------------------------

  /** A button or key: accept, reject, edit, undo, add. False when it does not apply now. */
  act(action) {
    if (!this.state.loaded) return false;
    if (!this.mayEdit) {
      this.panel.notice(this.state.readOnlyReason, true);
      return true;
    }
    if (action === "add") {
      this.openAdd();
      return true;
    }
    const id = this.selected;
    if (id === null || !this.state.findings.has(id)) return false;
    switch (action) {
      case "accept":
        this.state.decide(id, { verdict: "accepted" });
        return true;
      case "reject":
        this.openReject();
        return true;
      case "edit":
        this.openEdit(id);
        return true;
      case "undo":
        this.state.undo(id);
        return true;
      default:
        return false;
    }
  }

  openDialog(name) {
    this.close();
    this.dialog = name;
    const form = this.root.querySelector(`#reading-${name}`);
    form.hidden = false;
    form.tabIndex = -1;
    this.root.dataset.dialog = name;
    this.report.showTab("side-tab-findings");
    return form;
  }

  close() {
    if (!this.dialog) return;
    this.root.querySelector(`#reading-${this.dialog}`).hidden = true;
    this.dialog = null;
    this.editing = null;
    delete this.root.dataset.dialog;
    this.pointer.stop();
  }

  cancel() {
    this.close();
    this.viewer.activeViewport?.element.focus({ preventScroll: true });
  }

  /** Enter: the open form's action. */
  confirm() {
    switch (this.dialog) {
      case "reject":
        return this.confirmReject();
      case "edit":
        return this.confirmEdit();
      case "add":
        return this.confirmAdd();
      default:
        return false;
    }
  }

  openReject() {
    const form = this.openDialog("reject");
    const reasons = this.state.state.rejection_reasons;
    form.querySelector("#reading-reasons").replaceChildren(
      ...reasons.map((reason, index) => {
        const item = document.createElement("li");
        const label = document.createElement("label");
        const radio = document.createElement("input");
        radio.type = "radio";
        radio.name = "reading-reason";
        radio.value = reason.value;
        const key = document.createElement("kbd");
        key.textContent = String(index + 1);
        const name = document.createElement("span");
        name.textContent = reason.label;
        label.append(radio, key, name);
        item.append(label);
        return item;
      }),
    );
    form.querySelector("#reading-reject-note").value = "";
    form.focus({ preventScroll: true });
  }

  /** Number keys in the reason chooser. */
  chooseReason(number) {
    const radios = this.root.querySelectorAll("input[name=reading-reason]");
    if (number < 1 || number > radios.length) return false;
    radios[number - 1].checked = true;
    return true;
  }

  confirmReject() {
    const id = this.selected;
    const chosen = this.root.querySelector("input[name=reading-reason]:checked");
    if (!chosen) {
      this.panel.notice(this.root.querySelector("#reading-reject-title").textContent, true);
      return true;
    }
    const note = this.root.querySelector("#reading-reject-note").value.trim();
    this.close();
    this.state.decide(id, { verdict: "rejected", reason: chosen.value, note });
    return true;
  }

  openEdit(id) {
    const finding = this.effective(id);
    const form = this.openDialog("edit");
    this.editing = id;
    this.editStart = { kind: finding.geometry_kind, geometry: copyGeometry(finding.geometry), label: finding.label ?? "" };
    form.querySelector("#reading-edit-label").value = finding.label ?? "";
    form.querySelector("#reading-edit-hint").textContent = finding.geometry_kind === "none" ? text("labelOnly") : text("editHint");
    if (finding.geometry_kind !== "none") {
      this.pointer.edit({
        kind: finding.geometry_kind,
        geometry: finding.geometry,
        sop_uid: finding.sop_uid,
        frame: finding.frame,
        series_uid: finding.series_uid,
      });
    }
    form.focus({ preventScroll: true });
  }

  confirmEdit() {
    const id = this.editing;
    const start = this.editStart;
    const draft = this.pointer.draft;
    const verdict = { verdict: "modified", label: this.root.querySelector("#reading-edit-label").value.trim() };
    if (draft && JSON.stringify(draft.geometry) !== JSON.stringify(start.geometry)) {
      verdict.geometry_kind = draft.kind;
      verdict.geometry = draft.geometry;
    }
    this.close();
    this.state.decide(id, verdict);
    return true;
  }

  openAdd() {
    const form = this.openDialog("add");
    const select = form.querySelector("#reading-add-type");
    select.replaceChildren(...this.state.state.finding_types.map((type) => new Option(type.label, type.value)));
    form.querySelector("#reading-add-label").value = "";
    this.drawKind(form.querySelector("input[name=reading-kind]:checked").value);
    this.viewer.activeViewport?.element.focus({ preventScroll: true });
  }

  drawKind(kind) {
    if (this.dialog !== "add") return;
    this.pointer.draw(kind);
    const hints = { point: "drawPoint", box: "drawBox", polygon: "drawOutline" };
    this.root.querySelector("#reading-add-hint").textContent = text(hints[kind]);
  }

  shapeDrawn() {
    if (this.dialog === "add") this.root.querySelector("#reading-add-hint").textContent = text("drawn");
  }

  confirmAdd() {
    const draft = this.pointer.draft;
    if (!this.pointer.complete) {
      if (draft?.open && this.pointer.closeOutline()) return true;
      this.panel.notice(text("drawFirst"), true);
      return true;
    }
    const added = {
      type: this.root.querySelector("#reading-add-type").value,
      label: this.root.querySelector("#reading-add-label").value.trim(),
      geometry_kind: draft.kind,
      geometry: draft.geometry,
      sop_uid: draft.sop_uid,
      series_uid: draft.series_uid,
      frame: draft.frame,
    };
    this.close();
    this.state.add(added);
    return true;
  }
}

/** Mount the reading on the viewer page when the AI panel is there; the controller, or null. */
export function installReading(viewer, ai) {
  const root = document.getElementById("ai-panel");
  if (!root || !ai || !root.dataset.decisionsUrl) return null;
  const reading = new ReadingController(root, viewer, ai);
  reading.start();
  return reading;
}
