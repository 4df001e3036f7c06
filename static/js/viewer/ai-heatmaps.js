// Heatmap images ready to draw, built lazily and kept: the stored 8-bit PNG is fetched and decoded
// once per heatmap (its grey values), and coloured once per (heatmap, threshold, mode) into an
// ImageBitmap that drawImage scales to image pixels. Opacity is the context's globalAlpha at draw
// time, so moving that slider costs no rebuild. Scrolling only ever draws ready bitmaps; a
// missing one is started, and the layer is redrawn when it is ready.

import { colourise } from "./colormap.js";

const MAXIMUM_GREY_BYTES = 96 * 1024 * 1024;
const MAXIMUM_BITMAPS = 64;

export class HeatmapBitmaps {
  /** @param {() => void} ready called when a bitmap asked for has become ready */
  constructor(ready) {
    this.ready = ready;
    /** @type {Map<number, Promise<Uint8Array|null>|Uint8Array|null>} grey values by heatmap id */
    this.greys = new Map();
    this.greyBytes = 0;
    /** @type {Map<string, ImageBitmap|null>} coloured bitmaps (null while being built), LRU order */
    this.bitmaps = new Map();
  }

  /**
   * The coloured bitmap, or null while it is being made.
   * @param {{id: number, url: string, rows: number, columns: number}} heatmap
   * @param {number} threshold 0-255
   * @param {"fill"|"outline"} mode
   */
  get(heatmap, threshold, mode) {
    const key = `${heatmap.id}|${threshold}|${mode}`;
    if (this.bitmaps.has(key)) {
      const bitmap = this.bitmaps.get(key);
      if (bitmap) {
        this.bitmaps.delete(key); // most recently used last
        this.bitmaps.set(key, bitmap);
      }
      return bitmap;
    }
    this.bitmaps.set(key, null);
    this.build(key, heatmap, threshold, mode);
    return null;
  }

  async build(key, heatmap, threshold, mode) {
    const grey = await this.grey(heatmap);
    if (!grey || !this.bitmaps.has(key)) {
      this.bitmaps.delete(key);
      return;
    }
    const bitmap = await createImageBitmap(colourise(grey, heatmap.columns, heatmap.rows, threshold, mode));
    if (!this.bitmaps.has(key)) {
      bitmap.close(); // forgotten meanwhile (cleared)
      return;
    }
    this.bitmaps.set(key, bitmap);
    this.evict();
    this.ready();
  }

  evict() {
    for (const [key, bitmap] of this.bitmaps) {
      if (this.bitmaps.size <= MAXIMUM_BITMAPS) break;
      if (!bitmap) continue;
      bitmap.close();
      this.bitmaps.delete(key);
    }
  }

  async grey(heatmap) {
    let entry = this.greys.get(heatmap.id);
    if (entry === undefined) {
      entry = decodeGrey(heatmap).then((grey) => {
        this.greys.set(heatmap.id, grey);
        if (grey) this.greyBytes += grey.length;
        this.evictGreys();
        return grey;
      });
      this.greys.set(heatmap.id, entry);
    }
    return entry;
  }

  evictGreys() {
    for (const [id, grey] of this.greys) {
      if (this.greyBytes <= MAXIMUM_GREY_BYTES) break;
      if (!(grey instanceof Uint8Array)) continue;
      this.greys.delete(id);
      this.greyBytes -= grey.length;
    }
  }

  /** Forget every coloured bitmap (the results changed); the grey values stay. */
  clear() {
    for (const bitmap of this.bitmaps.values()) bitmap?.close();
    this.bitmaps.clear();
  }
}

/** The PNG's grey values, exactly as stored: no colour management, no premultiplication. */
async function decodeGrey(heatmap) {
  try {
    const response = await fetch(heatmap.url, { credentials: "same-origin" });
    if (!response.ok) return null;
    const picture = await createImageBitmap(await response.blob(), {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
    const canvas = new OffscreenCanvas(heatmap.columns, heatmap.rows);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(picture, 0, 0);
    picture.close();
    const rgba = context.getImageData(0, 0, heatmap.columns, heatmap.rows).data;
    const grey = new Uint8Array(heatmap.columns * heatmap.rows);
    for (let index = 0; index < grey.length; index += 1) grey[index] = rgba[index * 4];
    return grey;
  } catch {
    return null;
  }
}
