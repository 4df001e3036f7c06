// Which series go where: the grids, the mammography hanging, the prior beside the current study,
// and the strip of series thumbnails.

import { text } from "./strings.js";

export const GRIDS = {
  "1x1": { rows: 1, columns: 1 },
  "1x2": { rows: 1, columns: 2 },
  "2x2": { rows: 2, columns: 2 },
};

const HANGING = [
  ["R", "CC"],
  ["L", "CC"],
  ["R", "MLO"],
  ["L", "MLO"],
];

function lateralityOf(series) {
  return (series.info.laterality || series.frames[0]?.laterality || "").toUpperCase();
}

function viewOf(series) {
  return (series.info.view_position || "").toUpperCase();
}

/**
 * The four screening views in reading order RCC, LCC / RMLO, LMLO, each aligned so that the chest
 * walls meet in the middle (right breast to the right edge of its viewport), or null.
 * @param {import("./manifest-loader.js").SeriesPixels[]} seriesList
 */
export function mammographyHanging(seriesList) {
  const placed = HANGING.map(([side, view]) => {
    const matches = seriesList.filter((series) => series.modality === "MG" && lateralityOf(series) === side);
    const series = matches.find((one) => viewOf(one) === view) ?? matches.find((one) => viewOf(one).includes(view));
    return series ? { series, align: side === "R" ? "right" : "left" } : null;
  });
  return placed.every(Boolean) ? placed : null;
}

/** The series of a prior that best matches one of the current study: same view, modality, name. */
export function matchingSeries(current, priorList) {
  const score = (candidate) =>
    (candidate.modality === current.modality ? 4 : 0) +
    (viewOf(candidate) && viewOf(candidate) === viewOf(current) ? 2 : 0) +
    (lateralityOf(candidate) && lateralityOf(candidate) === lateralityOf(current) ? 2 : 0) +
    (candidate.info.description === current.info.description ? 1 : 0);
  return priorList.reduce((best, candidate) => (score(candidate) > score(best) ? candidate : best), priorList[0]);
}

/** The series a study opens with: the longest stack of the first modality, else the first. */
export function openingSeries(seriesList) {
  return seriesList.reduce((best, series) => (series.count > best.count ? series : best), seriesList[0]);
}

/** The strip of series thumbnails: click to show in the active viewport, or drag onto one. */
export class ThumbnailStrip {
  /**
   * @param {HTMLOListElement} list
   * @param {(uid: string) => void} onPick
   */
  constructor(list, onPick) {
    this.list = list;
    this.items = new Map();
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-series-uid]");
      if (button) onPick(button.dataset.seriesUid);
    });
    list.addEventListener("dragstart", (event) => {
      const button = event.target.closest("button[data-series-uid]");
      if (!button) return;
      event.dataTransfer.setData("application/x-series-uid", button.dataset.seriesUid);
      event.dataTransfer.effectAllowed = "copy";
    });
  }

  /** @param {import("./manifest-loader.js").SeriesPixels[]} seriesList */
  render(seriesList) {
    this.list.replaceChildren();
    this.items.clear();
    for (const series of seriesList) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.draggable = true;
      button.dataset.seriesUid = series.uid;
      const picture = document.createElement("div");
      picture.className = "thumbnail-picture";
      picture.textContent = series.modality;
      if (series.info.thumbnail_url) {
        const image = document.createElement("img");
        image.alt = "";
        image.loading = "lazy";
        image.decoding = "async";
        image.addEventListener("error", () => image.remove());
        image.addEventListener("load", () => picture.classList.add("loaded"));
        image.src = series.info.thumbnail_url;
        picture.append(image);
      }
      const label = document.createElement("span");
      label.className = "thumbnail-label";
      label.textContent = [series.info.number, series.info.description || series.modality].filter((part) => part !== null && part !== "").join(" · ");
      const count = document.createElement("span");
      count.className = "thumbnail-count";
      count.textContent = series.count === 1 ? text("oneFrame") : text("frames", { count: series.count });
      const progress = document.createElement("progress");
      progress.max = series.count;
      progress.value = series.arrived;
      progress.hidden = series.complete;
      button.append(picture, label, count, progress);
      item.append(button);
      this.list.append(item);
      this.items.set(series, { button, progress });
    }
  }

  progress(series) {
    const item = this.items.get(series);
    if (!item) return;
    item.progress.value = series.arrived;
    item.progress.hidden = series.complete;
  }

  /** Mark the series shown anywhere, and the one in the active viewport. */
  markShown(shown, active) {
    for (const [series, { button }] of this.items) {
      button.classList.toggle("shown", shown.has(series));
      button.setAttribute("aria-current", series === active ? "true" : "false");
    }
  }
}
