// The viewer of one study: its series, the viewports in their grid, the render loop, cine,
// synchronised scrolling and the priors. Drawing goes through one renderer (WebGL2 or 2D canvas)
// on one canvas under every viewport.

import { FrameLoader, SeriesPixels, fetchManifest } from "./manifest-loader.js";
import { LayerList } from "./layers.js";
import { GRIDS, ThumbnailStrip, mammographyHanging, matchingSeries, openingSeries } from "./layout.js";
import { text } from "./strings.js";
import { synchronise } from "./sync.js";
import { Viewport } from "./viewport.js";

const CINE_RATES = { minimum: 1, maximum: 60 };
const MESSAGE_MILLISECONDS = 5000;

export class Viewer {
  /**
   * @param {HTMLElement} root the .viewer element
   * @param {import("./gl-renderer.js").GlRenderer|import("./canvas-renderer.js").CanvasRenderer} renderer
   */
  constructor(root, renderer) {
    this.root = root;
    this.renderer = renderer;
    this.grid = root.querySelector("#viewport-grid");
    this.loader = new FrameLoader();
    /** @type {Viewport[]} */
    this.viewports = [];
    this.activeViewport = null;
    this.tool = "window";
    this.synchronised = true;
    this.cineRate = 15;
    this.study = null;
    this.priors = [];
    /** @type {SeriesPixels[]} */
    this.series = [];
    /** @type {Map<string, Promise<SeriesPixels[]>>} */
    this.priorSeries = new Map();
    this.dirty = new Set();
    this.overlayDirty = new Set();
    this.frameRequested = false;
    this.marked = new Set();
    this.pixelRatio = window.devicePixelRatio || 1;
    this.stats = { renderer: renderer.name, imagesDrawn: 0 };
    /** Drawn over every viewport after its image: the AI overlays' hook (see layers.js). */
    this.layers = new LayerList();
    this.thumbnails = new ThumbnailStrip(root.querySelector("#thumbnails"), (uid) => this.showSeries(uid));
    this.messageTimer = 0;
    new ResizeObserver(() => this.layoutChanged()).observe(this.grid);
  }

  /**
   * Hang the study once its manifest is here.
   * @param {Promise<object>} manifestArriving from fetchManifest(), started before the renderer
   */
  async open(manifestArriving) {
    let manifest;
    try {
      manifest = await manifestArriving;
    } catch (error) {
      this.message("failed", { reason: error.message }, { persistent: true });
      return;
    }
    this.study = manifest.study;
    this.priors = manifest.priors ?? [];
    this.series = manifest.series.filter((info) => info.frames.length > 0).map((info) => this.track(manifest.study, info));
    this.thumbnails.render(this.series);
    this.renderPriors();
    if (this.series.length === 0) {
      this.message("noImages", {}, { persistent: true });
      this.setGrid(GRIDS["1x1"], []);
      return;
    }
    const hanging = mammographyHanging(this.series);
    if (hanging) this.setGrid(GRIDS["2x2"], hanging.map((place) => ({ ...place, frameIndex: 0 })));
    else this.setGrid(GRIDS["1x1"], [{ series: openingSeries(this.series), frameIndex: 0 }]);
    this.renderer.prepare(new Set(this.series.flatMap((series) => series.frames.map((frame) => frame.dtype))));
    // The rest of the study loads behind the shown series, ready when its thumbnail is clicked.
    for (const series of this.series) {
      if (!this.loader.planned.has(series)) this.loader.request(series, 0, { shown: false });
    }
  }

  track(study, info) {
    const series = new SeriesPixels(study, info);
    series.addEventListener("frames", (event) => this.framesArrived(series, event.detail));
    return series;
  }

  framesArrived(series, { first, count }) {
    this.renderer.upload(series, first, count);
    for (const viewport of this.viewports) {
      if (viewport.series !== series) continue;
      if (viewport.frameIndex >= first && viewport.frameIndex < first + count) this.requestRender(viewport);
      else this.requestOverlay(viewport);
    }
    this.thumbnails.progress(series);
    if (this.series.length && this.series.every((one) => one.complete)) this.mark("all-loaded");
  }

  /** A performance mark, once (read by the benchmark and the tests). */
  mark(name) {
    if (this.marked.has(name)) return;
    this.marked.add(name);
    performance.mark(name);
    this.root.dataset[name === "first-image" ? "firstImage" : "allLoaded"] = "true";
  }

  renderPriors() {
    const box = this.root.querySelector("#priors");
    const list = this.root.querySelector("#prior-list");
    box.hidden = this.priors.length === 0;
    list.replaceChildren();
    for (const prior of this.priors) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.priorUid = prior.uid;
      const modalities = [prior.modalities].flat().filter(Boolean).join(" ");
      const description = prior.description ?? "";
      const what = description.startsWith(modalities) ? description : `${modalities} ${description}`.trim();
      button.textContent = `${text("prior", { date: prior.study_date ?? "" })} · ${what}`;
      button.addEventListener("click", () => this.compareWithPrior(prior.uid));
      item.append(button);
      list.append(item);
    }
  }

  /**
   * Show `rows` x `columns` viewports. `assignments` (series, frameIndex, align) fill them in
   * order; without them the viewports kept show what they showed and new ones the next series.
   */
  setGrid({ rows, columns }, assignments = null) {
    const count = rows * columns;
    while (this.viewports.length > count) {
      const viewport = this.viewports.pop();
      viewport.cinePlaying = false;
      viewport.element.remove();
      this.renderer.release(viewport);
    }
    while (this.viewports.length < count) {
      const element = document.createElement("div");
      this.grid.append(element);
      this.viewports.push(new Viewport(this, element));
    }
    this.grid.dataset.rows = String(rows);
    this.grid.dataset.columns = String(columns);
    this.layoutChanged();
    if (assignments) {
      for (const [index, viewport] of this.viewports.entries()) {
        const place = assignments[index];
        viewport.setSeries(place?.series ?? null, place?.frameIndex ?? 0, { align: place?.align ?? "center" });
      }
    } else {
      const shown = new Set(this.viewports.map((viewport) => viewport.series).filter(Boolean));
      const unshown = this.series.filter((series) => !shown.has(series));
      for (const viewport of this.viewports) {
        if (!viewport.series && unshown.length) viewport.setSeries(unshown.shift(), 0);
        else if (!viewport.series && this.series.length) viewport.setSeries(this.series[0], 0);
      }
    }
    if (!this.viewports.includes(this.activeViewport)) this.activate(this.viewports[0]);
    else this.seriesShown();
  }

  /** The layout buttons: grids, the mammography hanging, the newest prior beside this study. */
  setLayout(name) {
    if (name in GRIDS) {
      this.setGrid(GRIDS[name]);
      return;
    }
    if (name === "mammography") {
      const hanging = mammographyHanging(this.series);
      if (hanging) this.setGrid(GRIDS["2x2"], hanging.map((place) => ({ ...place, frameIndex: 0 })));
      else this.message("noMammography");
      return;
    }
    if (name === "prior") {
      const newest = [...this.priors].sort((one, other) => String(other.study_date).localeCompare(String(one.study_date)))[0];
      if (newest) this.compareWithPrior(newest.uid);
      else this.message("noPrior");
    }
  }

  /** The series of a prior study, loaded once from its manifest. */
  loadPrior(uid) {
    if (!this.priorSeries.has(uid)) {
      const template = this.root.dataset.manifestUrlTemplate;
      const url = template.replace(this.root.dataset.uidPlaceholder, encodeURIComponent(uid));
      this.priorSeries.set(
        uid,
        fetchManifest(url).then((manifest) =>
          manifest.series.filter((info) => info.frames.length > 0).map((info) => this.track(manifest.study, info)),
        ),
      );
    }
    return this.priorSeries.get(uid);
  }

  /** This study beside a prior: mammography CC views above the prior's; else side by side. */
  async compareWithPrior(uid) {
    let prior;
    try {
      prior = await this.loadPrior(uid);
    } catch (error) {
      this.priorSeries.delete(uid);
      this.message("failed", { reason: error.message });
      return;
    }
    if (prior.length === 0) return;
    const currentHanging = mammographyHanging(this.series);
    const priorHanging = mammographyHanging(prior);
    if (currentHanging && priorHanging) {
      const places = [currentHanging[0], currentHanging[1], priorHanging[0], priorHanging[1]];
      this.setGrid(GRIDS["2x2"], places.map((place) => ({ ...place, frameIndex: 0 })));
      return;
    }
    const current = this.activeViewport?.series ?? openingSeries(this.series);
    const frameIndex = this.activeViewport?.series === current ? this.activeViewport.frameIndex : 0;
    this.setGrid(GRIDS["1x2"], [
      { series: current, frameIndex },
      { series: matchingSeries(current, prior), frameIndex: 0 },
    ]);
  }

  /** Add a layer drawn over every viewport (AI findings, heatmaps) and redraw. */
  addLayer(layer) {
    this.layers.add(layer);
    for (const viewport of this.viewports) this.requestRender(viewport);
  }

  removeLayer(name) {
    this.layers.remove(name);
    for (const viewport of this.viewports) this.requestRender(viewport);
  }

  findSeries(uid) {
    return this.series.find((series) => series.uid === uid) ?? this.viewports.map((viewport) => viewport.series).find((series) => series?.uid === uid);
  }

  showSeries(uid, viewport = this.activeViewport) {
    const series = this.findSeries(uid);
    if (series && viewport) viewport.setSeries(series, 0);
  }

  activate(viewport) {
    if (!viewport) return;
    if (this.activeViewport !== viewport) {
      this.activeViewport?.element.classList.remove("active");
      this.activeViewport = viewport;
      viewport.element.classList.add("active");
    }
    this.seriesShown();
  }

  activateNext(step) {
    const index = this.viewports.indexOf(this.activeViewport);
    this.activate(this.viewports[(index + step + this.viewports.length) % this.viewports.length]);
  }

  seriesShown() {
    const shown = new Set(this.viewports.map((viewport) => viewport.series).filter(Boolean));
    this.thumbnails.markShown(shown, this.activeViewport?.series);
    for (const button of this.root.querySelectorAll("[data-action=cine]")) {
      button.setAttribute("aria-pressed", String(Boolean(this.activeViewport?.cinePlaying)));
    }
  }

  frameChanged(viewport) {
    if (this.synchronised) synchronise(viewport, this.viewports);
  }

  setTool(name) {
    this.tool = name;
    for (const viewport of this.viewports) viewport.measurements.cancel();
    for (const button of this.root.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === name));
    }
  }

  applyPreset(key) {
    const viewport = this.activeViewport;
    if (viewport && !viewport.applyPreset(key)) this.message("noPresets");
  }

  reset() {
    this.activeViewport?.resetView();
  }

  setSynchronised(on) {
    this.synchronised = on;
    const box = this.root.querySelector("#sync-scroll");
    if (box) box.checked = on;
    if (on && this.activeViewport) this.frameChanged(this.activeViewport);
  }

  toggleCine() {
    const viewport = this.activeViewport;
    if (!viewport?.series) return;
    viewport.cinePlaying = !viewport.cinePlaying;
    viewport.cineClock = performance.now();
    this.seriesShown();
    this.requestRender(viewport);
  }

  setCineRate(rate) {
    const value = Number(rate);
    if (!Number.isFinite(value)) return;
    this.cineRate = Math.min(CINE_RATES.maximum, Math.max(CINE_RATES.minimum, Math.round(value)));
    const input = this.root.querySelector("#cine-rate");
    if (input && Number(input.value) !== this.cineRate) input.value = String(this.cineRate);
  }

  changeCineRate(delta) {
    this.setCineRate(this.cineRate + delta);
  }

  /** Cine: one frame on per interval, waiting for frames still on their way. */
  advanceCine(time) {
    let playing = false;
    const interval = 1000 / this.cineRate;
    for (const viewport of this.viewports) {
      if (!viewport.cinePlaying || !viewport.series) continue;
      playing = true;
      if (time - viewport.cineClock < interval) continue;
      viewport.cineClock = time - ((time - viewport.cineClock) % interval);
      const next = (viewport.frameIndex + 1) % viewport.series.count;
      if (viewport.series.state[next] !== 0) viewport.setFrame(next);
    }
    return playing;
  }

  // --- drawing -------------------------------------------------------------------------------
  requestRender(viewport) {
    this.dirty.add(viewport);
    this.scheduleFrame();
  }

  requestOverlay(viewport) {
    this.overlayDirty.add(viewport);
    this.scheduleFrame();
  }

  scheduleFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame((time) => this.renderFrame(time));
  }

  renderFrame(time) {
    this.frameRequested = false;
    const playing = this.advanceCine(time);
    for (const viewport of this.dirty) {
      if (!this.viewports.includes(viewport)) continue;
      const drawn = this.renderer.draw(viewport);
      if (drawn) {
        this.stats.imagesDrawn += 1;
        this.mark("first-image");
      }
      viewport.afterDraw(drawn);
    }
    for (const viewport of this.overlayDirty) {
      if (!this.dirty.has(viewport) && this.viewports.includes(viewport)) viewport.overlay.update(viewport);
    }
    this.dirty.clear();
    this.overlayDirty.clear();
    if (playing) this.scheduleFrame();
  }

  /** The grid changed size or shape: size the canvas to it and redraw everything. */
  layoutChanged() {
    this.pixelRatio = window.devicePixelRatio || 1;
    const box = this.grid.getBoundingClientRect();
    const canvas = this.renderer.canvas;
    const width = Math.max(1, Math.round(box.width * this.pixelRatio));
    const height = Math.max(1, Math.round(box.height * this.pixelRatio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    this.renderer.clearAll();
    for (const viewport of this.viewports) viewport.measure(box.left, box.top);
  }

  message(key, values = {}, { persistent = false } = {}) {
    const element = this.root.querySelector("#viewer-message");
    element.textContent = text(key, values);
    clearTimeout(this.messageTimer);
    if (!persistent) this.messageTimer = setTimeout(() => (element.textContent = ""), MESSAGE_MILLISECONDS);
  }
}
