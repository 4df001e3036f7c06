// Drawings above the image, after it: the hook the AI overlays (findings, heatmaps, contours)
// will use. Empty for now. A layer is an object
//   { name: string, visible: boolean, draw(context, viewport) }
// whose draw() receives the viewport's 2D overlay context already scaled to image pixels
// (one unit = one image pixel, origin at the top-left of the image) and the viewport, whose
// series, frameIndex and frame tell what is shown. One list serves every viewport:
// readingViewer.addLayer(layer) / removeLayer(name).

export class LayerList {
  constructor() {
    /** @type {{name: string, visible: boolean, draw: Function}[]} */
    this.layers = [];
    /** Overlay canvases known to be blank. */
    this.cleared = new WeakSet();
  }

  add(layer) {
    this.layers.push({ visible: true, ...layer });
  }

  remove(name) {
    this.layers = this.layers.filter((layer) => layer.name !== name);
  }

  get empty() {
    return this.layers.length === 0;
  }

  /**
   * Draw every visible layer for the viewport's frame.
   * @param {HTMLCanvasElement} canvas the viewport's overlay canvas
   * @param {import("./viewport.js").Viewport} viewport
   */
  draw(canvas, viewport) {
    const idle = this.empty || !viewport.series;
    if (idle && this.cleared.has(canvas)) return; // nothing to draw while scrolling: no canvas work
    const context = canvas.getContext("2d");
    const ratio = viewport.pixelRatio;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (idle) {
      this.cleared.add(canvas);
      return;
    }
    this.cleared.delete(canvas);
    const { originX, originY, scaleX, scaleY } = viewport.transform;
    for (const layer of this.layers) {
      if (!layer.visible) continue;
      context.save();
      context.setTransform(ratio * scaleX, 0, 0, ratio * scaleY, ratio * originX, ratio * originY);
      layer.draw(context, viewport);
      context.restore();
    }
  }
}
