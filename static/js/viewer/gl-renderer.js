// WebGL2 drawing: every series lives on the GPU as 2D texture arrays in its own sample type
// (R16I, R16UI, R8UI, R32F or RGB8), and the window/level and inversion happen in a fragment
// shader, so windowing and scrolling never touch the pixel values on the CPU. One canvas serves
// every viewport (a scissored rectangle each) so the textures are shared.
//
// Two passes: the frame is windowed once, pixel for pixel, into an 8-bit texture of the image's
// size, which is then drawn to the viewport with the texture unit's own bilinear filtering (and
// mipmaps when minified). Zoom and pan redraw only the second pass, and a software GL
// (SwiftShader) shades one fetch per screen pixel instead of four.

import { PENDING } from "./manifest-loader.js";

// Pass 1 covers the whole image-sized target: row 0 at the bottom of the texture (t = 0).
const WINDOW_VERTEX_SHADER = `#version 300 es
in vec2 corner;
uniform vec2 imageSize;
out vec2 imagePoint;
void main() {
  imagePoint = corner * imageSize;
  gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}`;

const PRESENT_VERTEX_SHADER = `#version 300 es
in vec2 corner;
uniform vec2 imageSize;
uniform mat3 imageToClip;
out vec2 textureCoordinate;
void main() {
  textureCoordinate = corner;
  vec3 clip = imageToClip * vec3(corner * imageSize, 1.0);
  gl_Position = vec4(clip.xy, 0.0, 1.0);
}`;

const PRESENT_FRAGMENT_SHADER = `#version 300 es
precision mediump float;
uniform sampler2D windowed;
in vec2 textureCoordinate;
out vec4 outColour;
void main() {
  outColour = texture(windowed, textureCoordinate);
}`;

/** The fragment shader for one sampler type; `colour` frames window each channel. */
function fragmentShader(sampler) {
  return `#version 300 es
precision highp float;
precision highp int;
uniform highp ${sampler} image;
uniform int layer;
uniform ivec2 size;
uniform vec2 windowing;
uniform bool inverted;
uniform bool colour;
in vec2 imagePoint;
out vec4 outColour;

vec3 valueAt(ivec2 point) {
  vec4 texel = vec4(texelFetch(image, ivec3(point, layer), 0));
  return colour ? texel.rgb * 255.0 : texel.rrr;
}

// DICOM PS3.3 C.11.2.1.2.1, as windowing.js windowValue().
float windowed(float value) {
  float span = max(windowing.y, 1.0) - 1.0;
  float centre = windowing.x - 0.5;
  if (value <= centre - span * 0.5) return 0.0;
  if (value > centre + span * 0.5) return 1.0;
  return (value - centre) / span + 0.5;
}

void main() {
  vec3 value = valueAt(ivec2(floor(imagePoint)));
  vec3 grey = colour ? vec3(windowed(value.r), windowed(value.g), windowed(value.b)) : vec3(windowed(value.r));
  outColour = vec4(inverted ? 1.0 - grey : grey, 1.0);
}`;
}

/** How each sample type of the frames endpoint goes into a texture. */
function textureFormats(gl) {
  return {
    int16: { sampler: "isampler2DArray", internal: gl.R16I, format: gl.RED_INTEGER, type: gl.SHORT },
    uint16: { sampler: "usampler2DArray", internal: gl.R16UI, format: gl.RED_INTEGER, type: gl.UNSIGNED_SHORT },
    uint8: { sampler: "usampler2DArray", internal: gl.R8UI, format: gl.RED_INTEGER, type: gl.UNSIGNED_BYTE },
    float32: { sampler: "sampler2DArray", internal: gl.R32F, format: gl.RED, type: gl.FLOAT },
    rgb8: { sampler: "sampler2DArray", internal: gl.RGB8, format: gl.RGB, type: gl.UNSIGNED_BYTE },
  };
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

function link(gl, vertex, fragment, uniformNames) {
  const program = gl.createProgram();
  gl.attachShader(program, vertex);
  gl.attachShader(program, fragment);
  gl.bindAttribLocation(program, 0, "corner");
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  const uniforms = {};
  for (const name of uniformNames) uniforms[name] = gl.getUniformLocation(program, name);
  return { program, uniforms };
}

/**
 * The WebGL2 context the renderer wants, or null. preserveDrawingBuffer: viewports are redrawn
 * one at a time, the others must stay on screen.
 * @param {HTMLCanvasElement} canvas
 */
export function createContext(canvas) {
  return canvas.getContext("webgl2", {
    alpha: false,
    antialias: false,
    depth: false,
    stencil: false,
    preserveDrawingBuffer: true,
    powerPreference: "high-performance",
  });
}

/** Whether the context is rasterised in software (no GPU: SwiftShader, llvmpipe). */
export function isSoftware(gl) {
  const info = gl.getExtension("WEBGL_debug_renderer_info");
  const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  return /swiftshader|llvmpipe|softpipe|software/i.test(name);
}

export class GlRenderer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {WebGL2RenderingContext} gl from createContext(canvas)
   */
  constructor(canvas, gl) {
    this.canvas = canvas;
    this.name = "webgl2";
    this.gl = gl;
    /** @type {Map<import("./manifest-loader.js").SeriesPixels, {textures: WebGLTexture[], layers: number}>} */
    this.stores = new Map();
    canvas.addEventListener("webglcontextlost", (event) => event.preventDefault());
    canvas.addEventListener("webglcontextrestored", () => this.restore());
    this.setUp();
  }

  setUp() {
    const gl = this.gl;
    this.formats = textureFormats(gl);
    this.maxLayers = gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS);
    // Window programs are compiled on first use: most studies need one sample type only.
    this.programs = new Map();
    this.windowVertex = compile(gl, gl.VERTEX_SHADER, WINDOW_VERTEX_SHADER);
    this.present = link(
      gl,
      compile(gl, gl.VERTEX_SHADER, PRESENT_VERTEX_SHADER),
      compile(gl, gl.FRAGMENT_SHADER, PRESENT_FRAGMENT_SHADER),
      ["windowed", "imageSize", "imageToClip"],
    );
    this.framebuffer = gl.createFramebuffer();
    /** Each viewport's windowed image: what pass 1 drew, for which frame and window. */
    this.windowedImages = new Map();
    this.quad = gl.createVertexArray();
    gl.bindVertexArray(this.quad);
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1); // RGB and 8-bit rows of odd widths are not 4-aligned
    gl.enable(gl.SCISSOR_TEST);
  }

  /** After a lost context: new programs, and every frame that had arrived uploaded again. */
  restore() {
    const series = [...this.stores.keys()];
    this.stores.clear();
    this.setUp();
    for (const one of series) {
      for (let index = 0; index < one.count; index += 1) if (one.state[index] !== PENDING) this.upload(one, index, 1);
    }
  }

  /** Compile the window programs a study will need, while its first frame is on the network. */
  prepare(dtypes) {
    for (const dtype of dtypes) if (this.formats[dtype]) this.windowProgram(this.formats[dtype].sampler);
  }

  windowProgram(sampler) {
    if (!this.programs.has(sampler)) {
      const gl = this.gl;
      const fragment = compile(gl, gl.FRAGMENT_SHADER, fragmentShader(sampler));
      this.programs.set(
        sampler,
        link(gl, this.windowVertex, fragment, ["image", "layer", "size", "windowing", "inverted", "colour", "imageSize"]),
      );
    }
    return this.programs.get(sampler);
  }

  /** Texture and layer of a frame: uniform series share arrays of up to maxLayers frames. */
  place(series, index) {
    let store = this.stores.get(series);
    if (!store) {
      store = { textures: [], layers: series.uniform ? Math.min(this.maxLayers, series.count) : 1 };
      this.stores.set(series, store);
    }
    const slot = Math.floor(index / store.layers);
    if (!store.textures[slot]) {
      const gl = this.gl;
      const frame = series.frames[index];
      const depth = series.uniform ? Math.min(store.layers, series.count - slot * store.layers) : 1;
      const texture = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D_ARRAY, texture);
      gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.texStorage3D(gl.TEXTURE_2D_ARRAY, 1, this.formats[frame.dtype].internal, frame.columns, frame.rows, depth);
      store.textures[slot] = texture;
    }
    return { texture: store.textures[slot], layer: index % store.layers, layers: store.layers };
  }

  /**
   * Copy frames that arrived into their textures: one call per run of frames that share a texture
   * array and lie one after the other in one buffer (a batch of the loader).
   */
  upload(series, first, count) {
    const gl = this.gl;
    let index = first;
    while (index < first + count) {
      const { texture, layer, layers } = this.place(series, index);
      const run = series.contiguous(index, Math.min(first + count - index, layers - layer));
      const frame = series.frames[index];
      const format = this.formats[frame.dtype];
      gl.bindTexture(gl.TEXTURE_2D_ARRAY, texture);
      gl.texSubImage3D(
        gl.TEXTURE_2D_ARRAY, 0, 0, 0, layer, frame.columns, frame.rows, run,
        format.format, format.type, series.rangeValues(index, run),
      );
      index += run;
    }
  }

  /** Clear the whole canvas (after a resize or a change of layout). */
  clearAll() {
    const gl = this.gl;
    gl.disable(gl.SCISSOR_TEST);
    gl.clearColor(0.16, 0.2, 0.26, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.SCISSOR_TEST);
  }

  /**
   * Draw one viewport. `view` carries the rectangle in device pixels (from the canvas's top
   * left), the series, frame index, window, inversion and the image-to-rectangle transform.
   * @returns {boolean} whether an image was drawn
   */
  draw(view) {
    const gl = this.gl;
    const { rect } = view;
    const bottom = this.canvas.height - rect.y - rect.height;
    gl.viewport(rect.x, bottom, rect.width, rect.height);
    gl.scissor(rect.x, bottom, rect.width, rect.height);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    const { series, frameIndex } = view;
    if (!series || series.state[frameIndex] === PENDING) return false;
    const frame = series.frames[frameIndex];
    const target = this.windowedImage(view, frame);
    const key = `${series.uid}|${frameIndex}|${view.window.center}|${view.window.width}|${view.inverted}`;
    if (target.key !== key) {
      this.windowFrame(view, frame, target);
      target.key = key;
      target.mipmapped = false;
    }
    // Minified (a mammogram fitted to a quarter screen): mipmaps, or fine detail would alias.
    const ratio = view.pixelRatio;
    const minified = view.transform.scaleX * ratio < 1;
    gl.bindTexture(gl.TEXTURE_2D, target.texture);
    if (minified && !target.mipmapped) {
      gl.generateMipmap(gl.TEXTURE_2D);
      target.mipmapped = true;
    }
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, minified ? gl.LINEAR_MIPMAP_LINEAR : gl.LINEAR);
    gl.viewport(rect.x, bottom, rect.width, rect.height);
    const { program, uniforms } = this.present;
    gl.useProgram(program);
    gl.bindVertexArray(this.quad);
    gl.uniform1i(uniforms.windowed, 0);
    gl.uniform2f(uniforms.imageSize, frame.columns, frame.rows);
    // Image pixels -> the rectangle's clip space: x right, y up.
    const { originX, originY, scaleX, scaleY } = view.transform;
    const matrix = new Float32Array([
      (2 * ratio * scaleX) / rect.width, 0, 0,
      0, (-2 * ratio * scaleY) / rect.height, 0,
      (2 * ratio * originX) / rect.width - 1, 1 - (2 * ratio * originY) / rect.height, 1,
    ]);
    gl.uniformMatrix3fv(uniforms.imageToClip, false, matrix);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    return true;
  }

  /** The viewport's 8-bit target of the frame's size, (re)allocated with room for mipmaps. */
  windowedImage(view, frame) {
    let target = this.windowedImages.get(view);
    if (target && target.width === frame.columns && target.height === frame.rows) return target;
    const gl = this.gl;
    if (target) gl.deleteTexture(target.texture);
    const texture = gl.createTexture();
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    const levels = Math.floor(Math.log2(Math.max(frame.columns, frame.rows))) + 1;
    gl.texStorage2D(gl.TEXTURE_2D, levels, gl.RGBA8, frame.columns, frame.rows);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    target = { texture, width: frame.columns, height: frame.rows, key: "", mipmapped: false };
    this.windowedImages.set(view, target);
    return target;
  }

  /** Pass 1: window the frame's values into the target, one fragment per image pixel. */
  windowFrame(view, frame, target) {
    const gl = this.gl;
    const { program, uniforms } = this.windowProgram(this.formats[frame.dtype].sampler);
    const { texture, layer } = this.place(view.series, view.frameIndex);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target.texture, 0);
    gl.disable(gl.SCISSOR_TEST);
    gl.viewport(0, 0, frame.columns, frame.rows);
    gl.useProgram(program);
    gl.bindVertexArray(this.quad);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D_ARRAY, texture);
    gl.uniform1i(uniforms.image, 0);
    gl.uniform1i(uniforms.layer, layer);
    gl.uniform2i(uniforms.size, frame.columns, frame.rows);
    gl.uniform2f(uniforms.imageSize, frame.columns, frame.rows);
    gl.uniform2f(uniforms.windowing, view.window.center, view.window.width);
    gl.uniform1i(uniforms.inverted, view.inverted ? 1 : 0);
    gl.uniform1i(uniforms.colour, frame.dtype === "rgb8" ? 1 : 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.enable(gl.SCISSOR_TEST);
  }

  /** A viewport removed from the grid: free its windowed image. */
  release(view) {
    const target = this.windowedImages.get(view);
    if (target) this.gl.deleteTexture(target.texture);
    this.windowedImages.delete(view);
  }

  /** Release the textures of a series no longer shown (a prior closed). */
  forget(series) {
    const store = this.stores.get(series);
    if (!store) return;
    for (const texture of store.textures) if (texture) this.gl.deleteTexture(texture);
    this.stores.delete(series);
  }
}
