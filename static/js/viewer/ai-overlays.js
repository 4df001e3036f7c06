// The AI in the viewer, put together: the results of the study (re-read when the socket says they
// changed), the layer that draws them, the findings panel, the heatmap controls and the H key.
// Nothing happens on a page without the panel (a user who may not see AI results).

import { AiLayer } from "./ai-layer.js";
import { AiPanel } from "./ai-panel.js";
import { AiResults, followLiveChanges } from "./ai-results.js";
import { aiText } from "./ai-strings.js";
import { drawColourBar } from "./colormap.js";

export class AiOverlays {
  /**
   * @param {HTMLElement} root the .ai-panel element
   * @param {import("./viewer.js").Viewer} viewer
   */
  constructor(root, viewer) {
    this.root = root;
    this.viewer = viewer;
    this.layer = new AiLayer(viewer);
    this.panel = new AiPanel(root, viewer, this.layer);
    this.results = new AiResults(root.dataset.resultsUrl);
    this.visibleBox = root.querySelector("#ai-visible");
    this.visibleBox.addEventListener("change", () => this.setEnabled(this.visibleBox.checked));
    this.wireHeatmapControls();
    viewer.addLayer(this.layer.layer);
    this.results.addEventListener("change", () => this.resultsChanged());
    this.results.addEventListener("error", (event) => this.panel.setStatus(aiText("failed", { reason: event.detail })));
  }

  /** Start reading; the panel is drawn once the viewer has its series (for slice numbers). */
  async start(manifestArriving) {
    const loaded = this.results.load();
    await manifestArriving.catch(() => {});
    await loaded;
    this.started = true;
    this.resultsChanged();
    followLiveChanges(this.root.dataset.livePath, {
      changed: () => this.results.load(),
      state: (state) => (this.root.dataset.liveState = state),
    });
  }

  resultsChanged() {
    if (!this.started || this.results.loadCount === 0) return; // a failed first read keeps its message
    const models = this.results.models;
    this.layer.setModels(models);
    this.panel.render(models);
    this.root.querySelector("#ai-heatmap-controls").hidden = !models.some((entry) => entry.heatmaps.length);
    this.root.dataset.loads = String(this.results.loadCount);
    // The reading modules decorate the fresh panel with the verdicts.
    this.root.dispatchEvent(new Event("ai-rendered"));
  }

  get enabled() {
    return this.layer.enabled;
  }

  setEnabled(on) {
    this.layer.enabled = on;
    this.visibleBox.checked = on;
    this.root.classList.toggle("ai-off", !on);
    this.layer.redraw();
  }

  /** The H key. */
  toggle() {
    this.setEnabled(!this.layer.enabled);
  }

  wireHeatmapControls() {
    const root = this.root;
    drawColourBar(root.querySelector("#ai-colour-bar"));
    const opacity = root.querySelector("#ai-opacity");
    const threshold = root.querySelector("#ai-threshold");
    const update = () => {
      this.layer.heatmap.opacity = Number(opacity.value) / 100;
      this.layer.heatmap.threshold = Number(threshold.value) / 100;
      root.querySelector("#ai-opacity-value").value = this.layer.heatmap.opacity.toFixed(2);
      root.querySelector("#ai-threshold-value").value = this.layer.heatmap.threshold.toFixed(2);
      this.layer.heatmap.mode = root.querySelector("input[name=ai-mode]:checked").value;
      this.layer.redraw();
    };
    for (const input of root.querySelectorAll("#ai-heatmap-controls input")) input.addEventListener("input", update);
    update();
  }
}

/** Mount the AI on the viewer page if the page has the panel; the controller, or null. */
export function installAiOverlays(viewer, manifestArriving) {
  const root = document.getElementById("ai-panel");
  if (!root) return null;
  const overlays = new AiOverlays(root, viewer);
  overlays.start(manifestArriving);
  return overlays;
}
