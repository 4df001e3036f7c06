// The text over each viewport: the four corners (patient, study, series and slice, window),
// the orientation markers at the edges, the loading indicator and a frame's problem.

import { PROBLEM } from "./manifest-loader.js";
import { text } from "./strings.js";

// Patient axes of DICOM LPS coordinates: +x to the patient's left, +y posterior, +z head.
const AXIS_LETTERS = [
  ["R", "L"],
  ["A", "P"],
  ["F", "H"],
];

/** The letters of the patient direction a unit vector points to, strongest first (up to 3). */
export function directionLetters(vector) {
  return [0, 1, 2]
    .filter((axis) => Math.abs(vector[axis]) > 0.25)
    .sort((one, other) => Math.abs(vector[other]) - Math.abs(vector[one]))
    .map((axis) => AXIS_LETTERS[axis][vector[axis] > 0 ? 1 : 0])
    .join("");
}

/**
 * Markers for the four edges from Image Orientation (Patient): the row direction points to the
 * right edge, the column direction to the bottom edge.
 * @returns {{left: string, right: string, top: string, bottom: string}|null}
 */
export function orientationMarkers(orientation) {
  if (!orientation || orientation.length !== 6) return null;
  const row = orientation.slice(0, 3);
  const column = orientation.slice(3, 6);
  const opposite = (vector) => vector.map((value) => -value);
  return {
    right: directionLetters(row),
    left: directionLetters(opposite(row)),
    bottom: directionLetters(column),
    top: directionLetters(opposite(column)),
  };
}

function formatDate(value) {
  if (!value) return "";
  const digits = String(value).replaceAll("-", "");
  return digits.length === 8 ? `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6)}` : String(value);
}

function formatTime(value) {
  if (!value) return "";
  const digits = String(value).replaceAll(":", "");
  return digits.length >= 4 ? `${digits.slice(0, 2)}:${digits.slice(2, 4)}` : String(value);
}

function patientName(name) {
  return String(name ?? "")
    .split("=")[0]
    .split("^")
    .filter(Boolean)
    .join(" ");
}

function roundedNumber(value) {
  return Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1);
}

/** Create an element with a class, optionally inside a parent. */
function block(className, parent) {
  const node = document.createElement("div");
  node.className = className;
  parent.append(node);
  return node;
}

/** Fill a corner with lines, touching the DOM only where a line changed (cheap while scrolling). */
function setLines(corner, lines) {
  while (corner.childElementCount > lines.length) corner.lastElementChild.remove();
  for (const [index, [className, value]] of lines.entries()) {
    let line = corner.children[index];
    if (!line) {
      line = document.createElement("div");
      corner.append(line);
    }
    if (line.className !== className) line.className = className;
    if (line.textContent !== value) line.textContent = value;
  }
}

export class ViewportOverlay {
  /** @param {HTMLElement} element the viewport element */
  constructor(element) {
    this.corners = {
      topLeft: block("corner top-left", element),
      topRight: block("corner top-right", element),
      bottomLeft: block("corner bottom-left", element),
      bottomRight: block("corner bottom-right", element),
    };
    this.markers = {};
    for (const edge of ["left", "right", "top", "bottom"]) this.markers[edge] = block(`orientation ${edge}`, element);
    this.loading = block("viewport-loading", element);
    this.loadingBar = document.createElement("progress");
    this.loadingText = document.createElement("span");
    this.loading.append(this.loadingBar, this.loadingText);
    this.problem = block("viewport-problem", element);
    this.empty = block("viewport-empty", element);
    this.empty.textContent = text("empty");
  }

  /** @param {import("./viewport.js").Viewport} viewport */
  update(viewport) {
    const series = viewport.series;
    this.empty.hidden = Boolean(series);
    if (!series) {
      for (const corner of Object.values(this.corners)) setLines(corner, []);
      for (const marker of Object.values(this.markers)) marker.textContent = "";
      this.loading.hidden = true;
      this.problem.hidden = true;
      return;
    }
    const study = series.study;
    const frame = series.frames[viewport.frameIndex];
    const sexAge = [study.patient_sex, study.patient_age].filter(Boolean).join(" ");
    setLines(this.corners.topLeft, [
      ["patient-name", patientName(study.patient_name)],
      ["patient-id", study.patient_id ?? ""],
      ["patient-sex-age", [sexAge, formatDate(study.birth_date)].filter(Boolean).join(" · ")],
    ]);
    const prior = viewport.viewer.study && study.uid !== viewport.viewer.study.uid;
    setLines(this.corners.topRight, [
      ...(prior ? [["prior-badge", text("priorBadge")]] : []),
      ["study-site", study.site ?? ""],
      ["study-description", study.description ?? ""],
      ["study-date", `${formatDate(study.study_date)} ${formatTime(study.study_time)}`.trim()],
      ["study-accession", study.accession ?? ""],
    ]);
    const position = series.positions[viewport.frameIndex];
    const lines = [
      ["series", text("series", { number: series.info.number ?? "", description: series.info.description ?? "" })],
      ["slice", text("image", { index: viewport.frameIndex + 1, count: series.count })],
    ];
    if (position !== null && position !== undefined) {
      lines.push(["slice-location", text("location", { value: position.toFixed(1) })]);
    }
    if (viewport.probe) lines.push(["probe", viewport.probe]);
    setLines(this.corners.bottomLeft, lines);
    const windowLine = text("window", {
      width: roundedNumber(viewport.window.width),
      center: roundedNumber(viewport.window.center),
    });
    setLines(this.corners.bottomRight, [
      ["window", viewport.presetName ? `${windowLine} · ${text(`preset-${viewport.presetName}`)}` : windowLine],
      ["zoom", text("zoom", { percent: Math.round(viewport.transform.scaleX * viewport.pixelRatio * 100) })],
    ]);
    const markers = orientationMarkers(frame.image_orientation);
    for (const [edge, marker] of Object.entries(this.markers)) {
      const value = markers ? markers[edge] : "";
      if (marker.textContent !== value) marker.textContent = value;
    }
    this.loading.hidden = series.complete;
    if (!series.complete) {
      this.loadingBar.max = series.count;
      this.loadingBar.value = series.arrived;
      this.loadingText.textContent = text("loading", { loaded: series.arrived, count: series.count });
    }
    const problem = series.state[viewport.frameIndex] === PROBLEM ? series.problems.get(viewport.frameIndex) : "";
    this.problem.hidden = !problem;
    if (problem) this.problem.textContent = text("cannotDisplay", { reason: problem });
  }
}
