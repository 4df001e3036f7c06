// Geometry the reader corrects or draws, in image pixels (x = column, y = row, (0, 0) the top-left
// corner of the top-left pixel, as the AI result contract says): its handles, moving one handle or
// the whole shape, and keeping it on the image (the server refuses anything outside).

/** A deep copy, so a draft never changes the finding it started from. */
export function copyGeometry(geometry) {
  return JSON.parse(JSON.stringify(geometry));
}

/** The draggable points of a shape: [x, y] each. A 3D box is edited by its in-plane corners. */
export function handlesOf(kind, geometry) {
  switch (kind) {
    case "point":
      return [geometry];
    case "box":
      return [
        [geometry[0], geometry[1]],
        [geometry[2], geometry[1]],
        [geometry[2], geometry[3]],
        [geometry[0], geometry[3]],
      ];
    case "box3d":
      return handlesOf("box", [geometry.min[0], geometry.min[1], geometry.max[0], geometry.max[1]]);
    case "polygon":
      return geometry;
    default:
      return [];
  }
}

/** The shape with handle `index` at (x, y); a box's opposite corner stays where it is. */
export function moveHandle(kind, geometry, index, x, y) {
  const next = copyGeometry(geometry);
  switch (kind) {
    case "point":
      return [x, y];
    case "box":
      if (index === 0 || index === 3) next[0] = x;
      else next[2] = x;
      if (index === 0 || index === 1) next[1] = y;
      else next[3] = y;
      return next;
    case "box3d": {
      const box = moveHandle("box", [next.min[0], next.min[1], next.max[0], next.max[1]], index, x, y);
      return { min: [box[0], box[1], next.min[2]], max: [box[2], box[3], next.max[2]] };
    }
    case "polygon":
      next[index] = [x, y];
      return next;
    default:
      return next;
  }
}

/** The shape moved by (dx, dy). */
export function translate(kind, geometry, dx, dy) {
  const shift = ([x, y, ...rest]) => [x + dx, y + dy, ...rest];
  switch (kind) {
    case "point":
      return shift(geometry);
    case "box":
      return [geometry[0] + dx, geometry[1] + dy, geometry[2] + dx, geometry[3] + dy];
    case "box3d":
      return { min: shift(geometry.min), max: shift(geometry.max) };
    case "polygon":
      return geometry.map(shift);
    default:
      return copyGeometry(geometry);
  }
}

/** Whether (x, y) is inside the shape's bounding box (a point: within `slack` pixels). */
export function contains(kind, geometry, x, y, slack = 0) {
  const handles = handlesOf(kind, geometry);
  if (handles.length === 0) return false;
  const xs = handles.map((point) => point[0]);
  const ys = handles.map((point) => point[1]);
  return x >= Math.min(...xs) - slack && x <= Math.max(...xs) + slack && y >= Math.min(...ys) - slack && y <= Math.max(...ys) + slack;
}

/** On the image, rounded to a tenth of a pixel, a box's corners in order (x0 <= x1, y0 <= y1). */
export function tidy(kind, geometry, columns, rows) {
  const round = (value) => Math.round(value * 10) / 10;
  const clamp = ([x, y, ...rest]) => [round(Math.min(Math.max(x, 0), columns)), round(Math.min(Math.max(y, 0), rows)), ...rest];
  switch (kind) {
    case "point":
      return clamp(geometry);
    case "box": {
      const [x0, y0] = clamp([Math.min(geometry[0], geometry[2]), Math.min(geometry[1], geometry[3])]);
      const [x1, y1] = clamp([Math.max(geometry[0], geometry[2]), Math.max(geometry[1], geometry[3])]);
      return [x0, y0, x1, y1];
    }
    case "box3d": {
      const box = tidy("box", [geometry.min[0], geometry.min[1], geometry.max[0], geometry.max[1]], columns, rows);
      return { min: [box[0], box[1], geometry.min[2]], max: [box[2], box[3], geometry.max[2]] };
    }
    case "polygon":
      return geometry.map(clamp);
    default:
      return geometry;
  }
}

/** Whether a drawn shape is worth keeping: a box with an area, an outline of three points. */
export function isComplete(kind, geometry) {
  if (!geometry) return false;
  if (kind === "box") return geometry[2] - geometry[0] >= 1 && geometry[3] - geometry[1] >= 1;
  if (kind === "polygon") return geometry.length >= 3;
  return kind === "point";
}
