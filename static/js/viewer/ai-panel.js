// The findings panel: one section per model (its name, version, colour, reference warning, case
// score against its threshold), each finding with its type, label, score against the threshold and
// slice; a checkbox per model; a click on a finding shows it in the active viewport.

import { findingCaption } from "./ai-layer.js";
import { aiText } from "./ai-strings.js";

/**
 * The display index of a finding's slice in its series, or null (study-level, or not shown).
 * @returns {number|null}
 */
export function findingSlice(series, finding) {
  if (!series) return null;
  if (finding.geometry_kind === "box3d") {
    const middle = Math.round((finding.geometry.min[2] + finding.geometry.max[2]) / 2);
    return Math.min(Math.max(middle, 0), series.count - 1);
  }
  const index = series.frames.findIndex((frame) => frame.sop_uid === finding.sop_uid && frame.frame === finding.frame);
  return index < 0 ? null : index;
}

/** The image point at the middle of a finding's geometry. */
export function findingCentre(finding) {
  const geometry = finding.geometry;
  switch (finding.geometry_kind) {
    case "point":
      return geometry;
    case "box":
      return [(geometry[0] + geometry[2]) / 2, (geometry[1] + geometry[3]) / 2];
    case "box3d":
      return [(geometry.min[0] + geometry.max[0]) / 2, (geometry.min[1] + geometry.max[1]) / 2];
    case "polygon": {
      const xs = geometry.map((point) => point[0]);
      const ys = geometry.map((point) => point[1]);
      return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
    }
    default:
      return null;
  }
}

function element(tag, className, textContent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (textContent !== undefined) node.textContent = textContent;
  return node;
}

function score(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export class AiPanel {
  /**
   * @param {HTMLElement} root the .ai-panel element
   * @param {import("./viewer.js").Viewer} viewer
   * @param {import("./ai-layer.js").AiLayer} layer
   */
  constructor(root, viewer, layer) {
    this.root = root;
    this.viewer = viewer;
    this.layer = layer;
    this.list = root.querySelector("#ai-models");
    this.status = root.querySelector("#ai-status");
    this.findings = new Map();
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-finding-id]");
      if (button) this.show(this.findings.get(Number(button.dataset.findingId)));
    });
    this.list.addEventListener("change", (event) => {
      const box = event.target.closest("input[data-model-id]");
      if (!box) return;
      const id = Number(box.dataset.modelId);
      if (box.checked) this.layer.hiddenModels.delete(id);
      else this.layer.hiddenModels.add(id);
      box.closest(".ai-model-card").classList.toggle("off", !box.checked);
      this.layer.redraw();
    });
  }

  setStatus(message) {
    this.status.textContent = message;
    this.status.hidden = !message;
  }

  render(models) {
    this.findings.clear();
    this.list.replaceChildren(...models.map((entry) => this.modelSection(entry)));
    this.setStatus(models.length ? "" : aiText("none"));
  }

  modelSection(entry) {
    const model = entry.model;
    const section = element("section", "ai-model-card");
    section.dataset.modelId = String(model.id);
    section.style.setProperty("--model-colour", model.colour);
    section.classList.toggle("off", this.layer.hiddenModels.has(model.id));
    const head = element("label", "ai-model-name");
    const box = element("input");
    box.type = "checkbox";
    box.checked = !this.layer.hiddenModels.has(model.id);
    box.dataset.modelId = String(model.id);
    box.title = aiText("showModel", { model: model.name });
    head.append(box, element("span", "ai-swatch"), element("span", "", `${model.vendor} ${model.product} ${model.version}`));
    section.append(head);
    if (model.reference) section.append(element("p", "ai-reference", aiText("reference")));
    if (model.clearance) section.append(element("p", "ai-clearance", aiText("clearance", { clearance: model.clearance })));
    if (entry.case_score !== null || entry.triage_flag) {
      const line = element("p", "ai-case");
      if (entry.triage_flag) line.append(element("span", "ai-urgent", aiText("urgent")));
      if (entry.case_score !== null) {
        const value = element("span", entry.case_above_threshold ? "ai-positive" : "", aiText("caseScore", { score: score(entry.case_score), threshold: model.threshold }));
        line.append(value);
      }
      section.append(line);
    }
    if (entry.summary) section.append(element("p", "ai-summary", entry.summary));
    const list = element("ol", "ai-findings");
    for (const finding of entry.findings) {
      this.findings.set(finding.id, finding);
      list.append(this.findingItem(finding, model));
    }
    section.append(list);
    return section;
  }

  findingItem(finding, model) {
    const item = element("li");
    const button = element("button", `ai-finding${finding.above_threshold ? "" : " below"}`);
    button.type = "button";
    button.dataset.findingId = String(finding.id);
    button.title = `${model.name}${model.reference ? ` · ${aiText("reference")}` : ""}`;
    const caption = element("span", "ai-finding-caption", findingCaption(finding));
    const where = element("span", "ai-finding-slice", this.sliceText(finding));
    button.append(caption, where);
    if (finding.label) button.append(element("span", "ai-finding-label", finding.label));
    if (finding.score !== null) {
      const key = finding.above_threshold ? "findingScore" : "findingBelow";
      button.append(element("span", "ai-finding-score", aiText(key, { score: score(finding.score), threshold: model.threshold })));
    }
    button.disabled = finding.geometry_kind === "none";
    item.append(button);
    return item;
  }

  sliceText(finding) {
    if (finding.geometry_kind === "none") return aiText("wholeStudy");
    const series = this.viewer.findSeries(finding.series_uid);
    if (!series) return aiText("notLoaded");
    if (finding.geometry_kind === "box3d") {
      return aiText("slices", { first: finding.geometry.min[2] + 1, last: finding.geometry.max[2] + 1 });
    }
    const index = findingSlice(series, finding);
    return index === null ? aiText("notLoaded") : aiText("slice", { number: index + 1 });
  }

  /** The finding's series in the active viewport, at its slice, panned so the finding is in the middle. */
  show(finding) {
    if (!finding) return;
    const series = this.viewer.findSeries(finding.series_uid);
    const index = findingSlice(series, finding);
    const viewport = this.viewer.activeViewport ?? this.viewer.viewports[0];
    if (index === null || !viewport) return;
    if (viewport.series !== series) viewport.setSeries(series, index);
    else viewport.setFrame(index);
    const centre = findingCentre(finding);
    if (centre) {
      const point = viewport.imageToViewport(centre[0], centre[1]);
      viewport.panBy(viewport.size.width / 2 - point.x, viewport.size.height / 2 - point.y);
    }
    this.layer.selected = finding.id;
    for (const button of this.list.querySelectorAll("button[data-finding-id]")) {
      button.setAttribute("aria-current", String(Number(button.dataset.findingId) === finding.id));
    }
    this.viewer.activate(viewport);
    this.layer.redraw();
  }
}
