// The study manifest and the pixels of its series, loaded progressively: the shown frame first,
// then outward from it, in a few large ranged requests of the frames endpoint whose bodies are
// read as they stream in, a few frames at a time straight into their own buffers (a BYOB reader:
// no copy, no per-chunk work), so frames are usable (and uploaded to the GPU) as they land.

export const BYTES_PER_SAMPLE = { int16: 2, uint16: 2, uint8: 1, rgb8: 1, float32: 4 };
const SAMPLES_PER_PIXEL = { rgb8: 3 };
const ARRAY_TYPES = { int16: Int16Array, uint16: Uint16Array, uint8: Uint8Array, rgb8: Uint8Array, float32: Float32Array };
// Frames read into one buffer at most: fewer reads and GPU uploads, yet a 512x512 CT slice still
// shows within four frames of arriving (a frame larger than this is read alone).
const BATCH_BYTES = 2 << 20;

// Frame states in SeriesPixels.state.
export const PENDING = 0;
export const LOADED = 1;
export const PROBLEM = 2;

/**
 * Fetch a study manifest (see the contract in reading/manifest.py).
 * @param {string} url
 */
export async function fetchManifest(url) {
  // A plain fetch, so that it matches the <link rel="preload"> the page starts early.
  const response = await fetch(url);
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`;
    try {
      reason = (await response.json()).error || reason;
    } catch {
      // not JSON: the status says enough
    }
    throw new Error(reason);
  }
  return response.json();
}

/** Position of each frame along its slice normal (mm), or the Slice Location, or null. */
function slicePositions(frames) {
  return frames.map((frame) => {
    const position = frame.image_position;
    const orientation = frame.image_orientation;
    if (position && orientation && orientation.length === 6) {
      const [rx, ry, rz, cx, cy, cz] = orientation;
      const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
      return position[0] * normal[0] + position[1] * normal[1] + position[2] * normal[2];
    }
    return Number.isFinite(frame.slice_location) ? frame.slice_location : null;
  });
}

/**
 * The frames of one series: their description from the manifest and, once arrived, their pixel
 * values (kept for the ROI statistics, the canvas renderer and GPU re-uploads), several frames of
 * a batch sharing one buffer. Dispatches "frames" ({first, count}) as frames arrive, in order
 * within a request; the frames of one event share a buffer.
 */
export class SeriesPixels extends EventTarget {
  /**
   * @param {object} study the manifest's study
   * @param {object} info one entry of the manifest's series
   */
  constructor(study, info) {
    super();
    this.study = study;
    this.info = info;
    this.frames = info.frames;
    this.count = this.frames.length;
    this.modality = info.modality;
    this.byteLengths = this.frames.map(
      (frame) => frame.rows * frame.columns * BYTES_PER_SAMPLE[frame.dtype] * (SAMPLES_PER_PIXEL[frame.dtype] ?? 1),
    );
    /** Where each arrived frame lives: its batch's buffer and its offset there. */
    this.buffers = new Array(this.count).fill(null);
    this.offsets = new Array(this.count).fill(0);
    const first = this.frames[0];
    this.uniform = this.frames.every(
      (frame) => frame.rows === first.rows && frame.columns === first.columns && frame.dtype === first.dtype,
    );
    this.state = new Uint8Array(this.count);
    this.problems = new Map(this.frames.filter((frame) => frame.problem).map((frame) => [frame.index, frame.problem]));
    this.arrived = 0;
    this.positions = slicePositions(this.frames);
  }

  get uid() {
    return this.info.uid;
  }

  get complete() {
    return this.arrived === this.count;
  }

  /** The pixel values of a frame that has arrived (RGB: interleaved; zeros for a problem), else null. */
  values(index) {
    if (this.state[index] === PENDING) return null;
    const ArrayType = ARRAY_TYPES[this.frames[index].dtype];
    const length = this.byteLengths[index] / ArrayType.BYTES_PER_ELEMENT;
    if (!this.buffers[index]) return new ArrayType(length); // a request that failed: shown as zeros
    return new ArrayType(this.buffers[index], this.offsets[index], length);
  }

  /** How many frames from `index` on (at most `limit`) lie one after the other in one buffer. */
  contiguous(index, limit) {
    const buffer = this.buffers[index];
    let run = 1;
    while (
      run < limit &&
      buffer &&
      this.buffers[index + run] === buffer &&
      this.offsets[index + run] === this.offsets[index + run - 1] + this.byteLengths[index + run - 1]
    ) {
      run += 1;
    }
    return run;
  }

  /** Values of frames first..first+count-1 as one view (same buffer, see contiguous()). */
  rangeValues(first, count) {
    const ArrayType = ARRAY_TYPES[this.frames[first].dtype];
    const bytes = this.offsets[first + count - 1] + this.byteLengths[first + count - 1] - this.offsets[first];
    if (!this.buffers[first]) return new ArrayType(bytes / ArrayType.BYTES_PER_ELEMENT);
    return new ArrayType(this.buffers[first], this.offsets[first], bytes / ArrayType.BYTES_PER_ELEMENT);
  }

  /** Keep a batch: frames first..first+count-1, one after the other from the buffer's start. */
  keep(first, count, buffer) {
    let offset = 0;
    for (let index = first; index < first + count; index += 1) {
      if (this.state[index] === PENDING) {
        this.buffers[index] = buffer;
        this.offsets[index] = offset;
      }
      offset += this.byteLengths[index];
    }
  }

  /** Record frames that arrived (zeros for those the server could not decode) and announce them. */
  arrive(first, count, problemIndexes, reason) {
    let fresh = 0;
    for (let index = first; index < first + count; index += 1) {
      if (this.state[index] !== PENDING) continue;
      fresh += 1;
      if (problemIndexes.has(index) || this.problems.has(index)) {
        this.state[index] = PROBLEM;
        if (!this.problems.has(index)) this.problems.set(index, reason);
      } else {
        this.state[index] = LOADED;
      }
    }
    if (fresh === 0) return;
    this.arrived += fresh;
    this.dispatchEvent(new CustomEvent("frames", { detail: { first, count } }));
  }

  /** Frames a request could not bring: shown as problems, not retried forever. */
  fail(first, count, reason) {
    const indexes = new Set();
    for (let index = first; index < first + count; index += 1) indexes.add(index);
    this.arrive(first, count, indexes, reason);
  }
}

/**
 * Plan ranged requests for a series around a frame: that frame alone, then chunks alternating
 * after and before it, each chunk ascending (the endpoint serves ascending ranges).
 */
export function planChunks(count, around, chunkFrames) {
  const chunks = [{ start: around, count: 1 }];
  let after = around + 1;
  let before = around;
  while (after < count || before > 0) {
    if (after < count) {
      const size = Math.min(chunkFrames, count - after);
      chunks.push({ start: after, count: size });
      after += size;
    }
    if (before > 0) {
      const size = Math.min(chunkFrames, before);
      chunks.push({ start: before - size, count: size });
      before -= size;
    }
  }
  return chunks;
}

/**
 * One queue of ranged requests for every series, at most `maxRequests` in flight. Few and large:
 * on loopback the browser takes a series in fastest over one to three streams (each more costs
 * CPU that the server and the GPU upload need), and each request costs the server a lookup.
 * Series shown in a viewport come first, and within a series the chunks nearest the shown frame.
 */
export class FrameLoader {
  constructor({ maxRequests = 3, chunkFrames = 128 } = {}) {
    this.maxRequests = maxRequests;
    this.chunkFrames = chunkFrames;
    this.pending = [];
    this.running = 0;
    this.leadingRunning = 0;
    this.planned = new Set();
    /** @type {Map<SeriesPixels, {index: number, shown: boolean}>} */
    this.focusOf = new Map();
  }

  /**
   * Make sure the series loads, nearest `index` first. `shown` series outrank background ones.
   * @param {SeriesPixels} series
   */
  request(series, index = 0, { shown = true } = {}) {
    const focus = this.focusOf.get(series);
    this.focusOf.set(series, { index, shown: shown || Boolean(focus?.shown) });
    if (!this.planned.has(series)) {
      this.planned.add(series);
      const chunkFrames = Math.max(1, Math.min(this.chunkFrames, Math.ceil(series.count / this.maxRequests)));
      for (const [position, chunk] of planChunks(series.count, index, chunkFrames).entries()) {
        this.pending.push({ series, ...chunk, leading: shown && position === 0 });
      }
    } else {
      this.bringForward(series, index);
    }
    this.pump();
  }

  /** A viewport scrolled to a frame not yet here: split its pending chunk so it starts there. */
  bringForward(series, index) {
    const position = this.pending.findIndex(
      (chunk) => chunk.series === series && chunk.start <= index && index < chunk.start + chunk.count,
    );
    if (position < 0 || this.pending[position].start === index) return;
    const chunk = this.pending[position];
    this.pending.splice(
      position,
      1,
      { series, start: chunk.start, count: index - chunk.start },
      { series, start: index, count: chunk.start + chunk.count - index },
    );
  }

  rank(chunk) {
    const focus = this.focusOf.get(chunk.series) ?? { index: 0, shown: false };
    const distance =
      focus.index < chunk.start ? chunk.start - focus.index : Math.max(0, focus.index - (chunk.start + chunk.count - 1));
    return (focus.shown ? 0 : 1e9) + distance;
  }

  /**
   * Start the best-ranked chunks. While the first frame of a shown series is on its way nothing
   * else starts: bulk requests would share the server with it and delay the first image.
   */
  pump() {
    while (this.running < this.maxRequests && this.pending.length > 0) {
      let best = 0;
      for (let position = 1; position < this.pending.length; position += 1) {
        const chunk = this.pending[position];
        if (chunk.leading !== this.pending[best].leading) {
          if (chunk.leading) best = position;
        } else if (this.rank(chunk) < this.rank(this.pending[best])) {
          best = position;
        }
      }
      if (this.leadingRunning > 0 && !this.pending[best].leading) return;
      const [chunk] = this.pending.splice(best, 1);
      this.running += 1;
      if (chunk.leading) this.leadingRunning += 1;
      this.fetchChunk(chunk)
        .catch((error) => chunk.series.fail(chunk.start, chunk.count, error.message))
        .finally(() => {
          this.running -= 1;
          if (chunk.leading) this.leadingRunning -= 1;
          this.pump();
        });
    }
  }

  async fetchChunk({ series, start, count }) {
    const base = series.info.frames_url;
    const url = `${base}${base.includes("?") ? "&" : "?"}start=${start}&count=${count}&v=${series.info.frames_version}`;
    const response = await fetch(url, { priority: count === 1 ? "high" : "auto" });
    if (!response.ok) {
      let reason = `${response.status} ${response.statusText}`;
      try {
        reason = (await response.json()).error || reason;
      } catch {
        // not JSON: the status says enough
      }
      throw new Error(reason);
    }
    const problems = new Set(
      (response.headers.get("X-Frame-Problems") || "")
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(Number),
    );
    const reader = new BodyReader(response.body);
    let index = start;
    const end = start + count;
    while (index < end) {
      const batch = this.batchAt(series, index, end);
      const buffer = await reader.fill(batch.bytes);
      if (!buffer) break;
      series.keep(index, batch.count, buffer);
      series.arrive(index, batch.count, problems, "");
      index += batch.count;
    }
    reader.release();
    if (index < end) series.fail(index, end - index, "incomplete response");
  }

  /** The frames from `index` read into one buffer: one sample type, BATCH_BYTES at most. */
  batchAt(series, index, end) {
    let count = 1;
    let bytes = series.byteLengths[index];
    const dtype = series.frames[index].dtype;
    while (
      index + count < end &&
      series.frames[index + count].dtype === dtype &&
      bytes + series.byteLengths[index + count] <= BATCH_BYTES
    ) {
      bytes += series.byteLengths[index + count];
      count += 1;
    }
    return { count, bytes };
  }
}

/**
 * Reads a response body in pieces of exactly the size asked, each into a fresh buffer: with a
 * BYOB reader the bytes land there directly, and `min` makes one read fill it; where fetch bodies
 * are not byte streams, the stream's chunks are copied in.
 */
class BodyReader {
  constructor(body) {
    try {
      this.reader = body.getReader({ mode: "byob" });
      this.byob = true;
    } catch {
      this.reader = body.getReader();
      this.byob = false;
      this.leftover = null;
    }
  }

  /** The next `bytes` bytes as an ArrayBuffer, or null when the body ends first. */
  async fill(bytes) {
    return this.byob ? this.fillDirectly(bytes) : this.fillByCopy(bytes);
  }

  async fillDirectly(bytes) {
    let buffer = new ArrayBuffer(bytes);
    let filled = 0;
    while (filled < bytes) {
      const { done, value } = await this.reader.read(new Uint8Array(buffer, filled, bytes - filled), {
        min: bytes - filled,
      });
      if (done || !value) return null;
      buffer = value.buffer; // the read transferred it
      filled += value.byteLength;
    }
    return buffer;
  }

  async fillByCopy(bytes) {
    const target = new Uint8Array(bytes);
    let filled = 0;
    while (filled < bytes) {
      let chunk = this.leftover;
      this.leftover = null;
      if (!chunk) {
        const { done, value } = await this.reader.read();
        if (done) return null;
        chunk = value;
      }
      const take = Math.min(chunk.length, bytes - filled);
      target.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.length) this.leftover = chunk.subarray(take);
    }
    return target.buffer;
  }

  release() {
    this.reader.cancel().catch(() => {});
  }
}
