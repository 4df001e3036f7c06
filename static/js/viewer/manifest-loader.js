// The study manifest and the pixels of its series, loaded progressively: the shown frame first,
// then outward from it, in a few ranged requests of the frames endpoint whose bodies are read as
// they stream in, so each frame is usable (and uploaded to the GPU) the moment its last byte lands.

export const BYTES_PER_SAMPLE = { int16: 2, uint16: 2, uint8: 1, rgb8: 1, float32: 4 };
const SAMPLES_PER_PIXEL = { rgb8: 3 };
const ARRAY_TYPES = { int16: Int16Array, uint16: Uint16Array, uint8: Uint8Array, rgb8: Uint8Array, float32: Float32Array };

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
 * values in one buffer (kept for the ROI statistics, the canvas renderer and GPU re-uploads).
 * Dispatches "frames" ({first, count}) as frames arrive, in order within a request.
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
    this.offsets = new Array(this.count);
    this.byteLengths = new Array(this.count);
    let total = 0;
    for (const [index, frame] of this.frames.entries()) {
      total = Math.ceil(total / 4) * 4; // typed-array views need aligned offsets
      this.offsets[index] = total;
      this.byteLengths[index] = frame.rows * frame.columns * BYTES_PER_SAMPLE[frame.dtype] * (SAMPLES_PER_PIXEL[frame.dtype] ?? 1);
      total += this.byteLengths[index];
    }
    this.totalBytes = total;
    const first = this.frames[0];
    this.uniform = this.frames.every(
      (frame) => frame.rows === first.rows && frame.columns === first.columns && frame.dtype === first.dtype,
    );
    this.buffer = null;
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

  allocate() {
    if (!this.buffer) this.buffer = new ArrayBuffer(this.totalBytes);
  }

  /** The pixel values of a frame that has arrived (RGB: interleaved), else null. */
  values(index) {
    if (this.state[index] === PENDING || !this.buffer) return null;
    const frame = this.frames[index];
    const ArrayType = ARRAY_TYPES[frame.dtype];
    return new ArrayType(this.buffer, this.offsets[index], this.byteLengths[index] / ArrayType.BYTES_PER_ELEMENT);
  }

  /** Values of frames first..first+count-1 as one view (uniform series: they are contiguous). */
  rangeValues(first, count) {
    const ArrayType = ARRAY_TYPES[this.frames[first].dtype];
    const bytes = this.offsets[first + count - 1] + this.byteLengths[first + count - 1] - this.offsets[first];
    return new ArrayType(this.buffer, this.offsets[first], bytes / ArrayType.BYTES_PER_ELEMENT);
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
    this.allocate();
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
 * One queue of ranged requests for every series, at most `maxRequests` in flight (browsers open
 * six connections per host; the rest stay free for thumbnails and the page). Series shown in a
 * viewport come first, and within a series the chunks nearest the shown frame.
 */
export class FrameLoader {
  constructor({ maxRequests = 4, chunkFrames = 40 } = {}) {
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
      series.allocate();
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
    const url = `${base}${base.includes("?") ? "&" : "?"}start=${start}&count=${count}`;
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
    const target = new Uint8Array(series.buffer);
    const end = start + count;
    const reader = response.body.getReader();
    let next = start;
    let within = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const first = next;
      let read = 0;
      while (read < value.length && next < end) {
        const take = Math.min(series.byteLengths[next] - within, value.length - read);
        target.set(value.subarray(read, read + take), series.offsets[next] + within);
        within += take;
        read += take;
        if (within === series.byteLengths[next]) {
          next += 1;
          within = 0;
        }
      }
      if (next > first) series.arrive(first, next - first, problems, "");
    }
    if (next < end) series.fail(next, end - next, "incomplete response");
  }
}
