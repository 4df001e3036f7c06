// The viewer page: pick a renderer, open the study, wire the toolbar and the keyboard.
// `window.readingViewer` is the handle the browser tests and the benchmark drive.

import { installAiOverlays } from "./ai-overlays.js";
import { CanvasRenderer } from "./canvas-renderer.js";
import { GlRenderer, createContext, isSoftware } from "./gl-renderer.js";
import { HelpOverlay } from "./help-overlay.js";
import { fetchManifest } from "./manifest-loader.js";
import { allPresets } from "./presets.js";
import { installReading } from "./reading-controller.js";
import { installShortcuts } from "./shortcuts.js";
import { text } from "./strings.js";
import { Viewer } from "./viewer.js";

/**
 * WebGL2 on a GPU. Without one (SwiftShader, llvmpipe) the 2D canvas, whose windowing through a
 * lookup table scrolls two to three times faster than software-rasterised WebGL (measured by
 * bench/viewer_bench.py). ?renderer=webgl2 or ?renderer=canvas forces one (tests, odd drivers).
 */
function createRenderer(canvas) {
  const wanted = new URLSearchParams(location.search).get("renderer");
  let gl = null;
  if (wanted !== "canvas") {
    gl = createContext(canvas);
    if (gl && (wanted === "webgl2" || !isSoftware(gl))) {
      try {
        return { renderer: new GlRenderer(canvas, gl), missing: false };
      } catch {
        // shaders refused: the 2D canvas below
      }
    }
  }
  if (gl) {
    // A canvas keeps its first context: the 2D one needs a fresh element.
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    const fresh = canvas.cloneNode(false);
    canvas.replaceWith(fresh);
    canvas = fresh;
  }
  return { renderer: new CanvasRenderer(canvas), missing: wanted !== "canvas" && !gl };
}

function wireToolbar(viewer, help) {
  const root = viewer.root;
  root.querySelector(".viewer-toolbar").addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.layout) viewer.setLayout(button.dataset.layout);
    if (button.dataset.tool) viewer.setTool(button.dataset.tool);
    switch (button.dataset.action) {
      case "fit":
        viewer.activeViewport?.fit();
        break;
      case "actual-size":
        viewer.activeViewport?.actualSize();
        break;
      case "invert":
        viewer.activeViewport?.toggleInvert();
        break;
      case "reset":
        viewer.reset();
        break;
      case "cine":
        viewer.toggleCine();
        break;
      case "help":
        help.toggle();
        break;
    }
  });
  root.querySelector("#viewer-help").addEventListener("click", (event) => {
    if (event.target.closest("[data-action=help]")) help.close();
  });
  const presets = root.querySelector("#preset-select");
  for (const preset of allPresets()) {
    presets.append(new Option(`${preset.key} · ${text(`preset-${preset.name}`)} (${preset.width}/${preset.center})`, preset.key));
  }
  presets.append(new Option(`0 · ${text("preset-default")}`, "0"));
  presets.addEventListener("change", () => {
    if (presets.value) viewer.applyPreset(presets.value);
    presets.value = "";
  });
  const rate = root.querySelector("#cine-rate");
  rate.addEventListener("change", () => viewer.setCineRate(rate.value));
  viewer.setCineRate(rate.value);
  const sync = root.querySelector("#sync-scroll");
  sync.addEventListener("change", () => viewer.setSynchronised(sync.checked));
  viewer.setSynchronised(sync.checked);
  viewer.setTool(viewer.tool);
}

const root = document.getElementById("viewer");
if (root) {
  // The manifest first: it is on the network while the renderer compiles its shaders.
  const manifestArriving = fetchManifest(root.dataset.manifestUrl);
  manifestArriving.catch(() => {}); // reported by viewer.open()
  const { renderer, missing } = createRenderer(root.querySelector("#image-canvas"));
  const viewer = new Viewer(root, renderer);
  const help = new HelpOverlay(root.querySelector("#viewer-help"));
  window.readingViewer = viewer;
  wireToolbar(viewer, help);
  installShortcuts(viewer, help);
  if (missing) viewer.message("webglMissing");
  viewer.open(manifestArriving);
  // After open(): the panel waits for the same manifest, and open() must have hung it first.
  viewer.ai = installAiOverlays(viewer, manifestArriving);
  viewer.reading = installReading(viewer, viewer.ai);
}
