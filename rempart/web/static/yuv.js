// Decoded video pixels (YUV planes from WebCodecs) to the luminance plane PDQ hashes, computed
// with the same integer arithmetic as the Python side's conversion, so that identical decoded
// frames give identical hashes.
//
// The Python side (rempart/media/video.py, as Meta's vPDQ) converts each frame to RGB with
// FFmpeg's swscale at the frame's own size, BT.601 whatever the stream's tags, then PDQ takes
// 0.299 R + 0.587 G + 0.114 B. For 8-bit 4:2:0 frames of even height swscale's unscaled converter
// runs (on x86 with SSSE3, its SIMD form): each chroma sample serves a 2x2 block (no
// interpolation), and every product is a 16-bit fixed-point multiply that keeps the high half
// (floor). This module reproduces it exactly; measured bit for bit against PyAV in
// tests/web/test_video_js.py. See docs/web.md, "Videos".

// swscale's BT.601 coefficients (ff_yuv2rgb_coeffs[SWS_CS_ITU601]): crv, cbu, cgu, cgv in 16.16.
const BT601 = [104597, 132201, 25675, 53279];

/**
 * Lookup tables of the conversion for one colour range: for each 8-bit Y, U or V, its share of
 * R, G and B before the sum and the final clip to 0-255.
 *
 * @param {boolean} fullRange true for full-range ("JPEG") YUV, false for limited (16-235)
 */
export function conversionTables(fullRange) {
  let [crv, cbu, cgu, cgv] = BT601;
  cgu = -cgu;
  cgv = -cgv;
  let cy = 1 << 16;
  let oy = 0;
  if (fullRange) {
    // C integer division truncates toward zero.
    [crv, cbu, cgu, cgv] = [crv, cbu, cgu, cgv].map((c) => Math.trunc((c * 224) / 255));
  } else {
    cy = Math.trunc((cy * 255) / 219);
    oy = 16 << 16;
  }
  // ff_yuv2rgb_c_init_tables: the SIMD coefficients, each rounded to 16 bits.
  const round16 = (value) => Math.floor((value + (1 << 15)) / 65536);
  const yCoeff = round16(cy * 8192);
  const yOffset = round16(oy * 8);
  const vr = round16(crv * 8192);
  const ub = round16(cbu * 8192);
  const ug = round16(cgu * 8192);
  const vg = round16(cgv * 8192);
  // pmulhw: the high 16 bits of a signed 16 x 16-bit product, i.e. floor(a * b / 65536).
  const high = (a, b) => Math.floor((a * b) / 65536);
  const y = new Int16Array(256);
  const rV = new Int16Array(256);
  const gU = new Int16Array(256);
  const gV = new Int16Array(256);
  const bU = new Int16Array(256);
  for (let i = 0; i < 256; i++) {
    const chroma = i * 8 - 1024;
    y[i] = high(i * 8 - yOffset, yCoeff);
    rV[i] = high(chroma, vr);
    gU[i] = high(chroma, ug);
    gV[i] = high(chroma, vg);
    bU[i] = high(chroma, ub);
  }
  return { y, rV, gU, gV, bU };
}

const TABLES = { limited: conversionTables(false), full: conversionTables(true) };

/**
 * The PDQ luminance plane of one decoded frame.
 *
 * @param {Uint8Array} data the frame's planes as VideoFrame.copyTo wrote them
 * @param {Array<{offset: number, stride: number}>} layout the plane layout copyTo returned
 * @param {{format: string, width: number, height: number, fullRange: boolean}} frame
 *   `format` one of "I420", "I420A", "I422", "I444", "NV12" (8-bit); width and height of the
 *   visible picture
 * @returns {Float32Array} width x height luminance values, row-major
 */
export function lumaOfYuv(data, layout, frame) {
  const { width, height } = frame;
  const tables = frame.fullRange ? TABLES.full : TABLES.limited;
  const { y: yT, rV, gU, gV, bU } = tables;
  const interleaved = frame.format === "NV12";
  const shiftX = frame.format === "I444" ? 0 : 1;
  const shiftY = frame.format === "I420" || frame.format === "I420A" || interleaved ? 1 : 0;
  const [luma, first, second] = layout;
  const out = new Float32Array(width * height);
  for (let row = 0, o = 0; row < height; row++) {
    const yRow = luma.offset + row * luma.stride;
    const cRow = row >> shiftY;
    const uRow = first.offset + cRow * first.stride;
    const vRow = interleaved ? uRow + 1 : second.offset + cRow * second.stride;
    const step = interleaved ? 2 : 1;
    for (let col = 0; col < width; col++, o++) {
      const c = (col >> shiftX) * step;
      const u = data[uRow + c];
      const v = data[vRow + c];
      const base = yT[data[yRow + col]];
      const r = clip(base + rV[v]);
      const g = clip(base + gU[u] + gV[v]);
      const b = clip(base + bU[u]);
      // As pdq.js's lumaFromRGBA: the sum in double precision, stored as float.
      out[o] = r * 0.299 + g * 0.587 + b * 0.114;
    }
  }
  return out;
}

function clip(value) {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/**
 * Turn a luminance plane by `quarterTurns` counter-clockwise quarter turns (numpy's rot90, as the
 * Python side turns a frame upright by its display rotation).
 *
 * @returns {{luma: Float32Array, width: number, height: number}}
 */
export function rotateLuma(luma, width, height, quarterTurns) {
  const turns = ((quarterTurns % 4) + 4) % 4;
  if (turns === 0) return { luma, width, height };
  const out = new Float32Array(luma.length);
  const outWidth = turns === 2 ? width : height;
  const outHeight = turns === 2 ? height : width;
  for (let i = 0, o = 0; i < outHeight; i++) {
    for (let j = 0; j < outWidth; j++, o++) {
      if (turns === 1) out[o] = luma[j * width + (width - 1 - i)];
      else if (turns === 2) out[o] = luma[(height - 1 - i) * width + (width - 1 - j)];
      else out[o] = luma[(height - 1 - j) * width + i];
    }
  }
  return { luma: out, width: outWidth, height: outHeight };
}
