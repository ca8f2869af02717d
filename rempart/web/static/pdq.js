// PDQ, Meta's 256-bit perceptual image hash, for the browser.
//
// A port of the C++ reference (facebook/ThreatExchange pdq/cpp) as the Python side runs it
// through the `pdqhash` package: luminance, two passes of Jarosz box filters, decimation to
// 64x64, a 16x16 DCT, a median threshold and the gradient-sum quality. Every step reproduces the
// reference's single-precision arithmetic (Math.fround / Float32Array where the C++ uses float,
// the same summation order), so identical pixels give the identical hash; see docs/web-pdq.md.

const fround = Math.fround;

/** Smallest width or height PDQ describes; below it the reference returns an all-zero hash. */
export const PDQ_MIN_SIDE = 5;

// PDQ works on a 64x64 down-sample and keeps the 16x16 lowest frequencies of its DCT.
const SAMPLE = 64;
const KEPT = 16;
const JAROSZ_PASSES = 2;

// The DCT-II basis rows 1..16 of a 64-point transform, built as the C++ builds them: a float
// scale factor times a double cosine, stored as float.
const DCT_MATRIX = (() => {
  const matrix = new Float32Array(KEPT * SAMPLE);
  const scale = fround(Math.sqrt(2.0 / SAMPLE));
  for (let i = 0; i < KEPT; i++) {
    for (let j = 0; j < SAMPLE; j++) {
      matrix[i * SAMPLE + j] = scale * Math.cos((Math.PI / 2.0 / SAMPLE) * (i + 1) * (2 * j + 1));
    }
  }
  return matrix;
})();

/**
 * PDQ hash of RGBA pixels (row-major, 4 bytes a pixel, alpha ignored: composite first).
 *
 * @param {Uint8Array|Uint8ClampedArray} data width * height * 4 bytes, as in ImageData.data
 * @param {number} width
 * @param {number} height
 * @returns {{hash: string, quality: number}} 64 lowercase hex digits (the bit order of
 *   Python's `PdqHash.hex`) and the quality 0-100; an image smaller than PDQ_MIN_SIDE on a side
 *   gets the reference's all-zero hash and quality 0.
 */
export function pdqFromRGBA(data, width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 4) {
    throw new RangeError(`${width}x${height} RGBA needs ${width * height * 4} bytes, got ${data.length}`);
  }
  return pdqFromLuma(lumaFromRGBA(data, width, height), width, height);
}

/**
 * Luminance as the Python side computes it before calling the C++ code: 0.299 R + 0.587 G +
 * 0.114 B in double precision (numpy), rounded once to float.
 */
export function lumaFromRGBA(data, width, height) {
  const count = width * height;
  const luma = new Float32Array(count);
  for (let i = 0, p = 0; i < count; i++, p += 4) {
    luma[i] = data[p] * 0.299 + data[p + 1] * 0.587 + data[p + 2] * 0.114;
  }
  return luma;
}

/**
 * PDQ hash of a float luminance plane (row-major, `height` rows of `width`). The plane is used
 * as scratch space and overwritten.
 *
 * @returns {{hash: string, quality: number}}
 */
export function pdqFromLuma(luma, width, height) {
  if (width < PDQ_MIN_SIDE || height < PDQ_MIN_SIDE) {
    return { hash: "0".repeat(64), quality: 0 };
  }
  const sample = downsample64(luma, height, width);
  const quality = qualityOf(sample);
  const dct = dct64To16(sample);
  return { hash: hexOfBits(dct), quality };
}

/** Hamming distance in bits between two PDQ hashes in hex (64 digits each). */
export function pdqDistance(a, b) {
  if (!/^[0-9a-fA-F]{64}$/.test(a) || !/^[0-9a-fA-F]{64}$/.test(b)) {
    throw new RangeError("a PDQ hash is 64 hexadecimal digits");
  }
  let distance = 0;
  for (let i = 0; i < 64; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      x &= x - 1;
      distance++;
    }
  }
  return distance;
}

// Blur with Jarosz box filters (a tent after two passes), then pick the 64x64 pixel centres.
function downsample64(luma, rows, cols) {
  const sample = new Float32Array(SAMPLE * SAMPLE);
  if (rows === SAMPLE && cols === SAMPLE) {
    sample.set(luma);
    return sample;
  }
  const windowAlongRows = jaroszWindow(cols);
  const windowAlongCols = jaroszWindow(rows);
  const scratch = new Float32Array(rows * cols);
  for (let pass = 0; pass < JAROSZ_PASSES; pass++) {
    boxAlongRows(luma, scratch, rows, cols, windowAlongRows);
    boxAlongCols(scratch, luma, rows, cols, windowAlongCols);
  }
  for (let outRow = 0; outRow < SAMPLE; outRow++) {
    const inRow = Math.floor(((outRow + 0.5) * rows) / SAMPLE);
    for (let outCol = 0; outCol < SAMPLE; outCol++) {
      const inCol = Math.floor(((outCol + 0.5) * cols) / SAMPLE);
      sample[outRow * SAMPLE + outCol] = luma[inRow * cols + inCol];
    }
  }
  return sample;
}

// Half of 1/64 of the side, rounded up: two passes then cover one output pixel's footprint.
function jaroszWindow(side) {
  return Math.floor((side + 2 * SAMPLE - 1) / (2 * SAMPLE));
}

// The reference's four phases of a running-sum box filter of `window` samples centred on each
// output: grow the sum, write with a growing window, slide, write with a shrinking window.
function boxPhases(length, window) {
  const half = Math.floor((window + 2) / 2);
  return [half - 1, window - half + 1, length - window, half - 1];
}

function boxAlongRows(input, output, rows, cols, window) {
  const [grow, growWrite, slide, shrink] = boxPhases(cols, window);
  for (let row = 0; row < rows; row++) {
    let right = row * cols;
    let left = right;
    let out = right;
    let sum = 0;
    let count = 0;
    for (let i = 0; i < grow; i++) {
      sum = fround(sum + input[right++]);
      count++;
    }
    for (let i = 0; i < growWrite; i++) {
      sum = fround(sum + input[right++]);
      count++;
      output[out++] = sum / count;
    }
    for (let i = 0; i < slide; i++) {
      sum = fround(sum + input[right++]);
      sum = fround(sum - input[left++]);
      output[out++] = sum / count;
    }
    for (let i = 0; i < shrink; i++) {
      sum = fround(sum - input[left++]);
      count--;
      output[out++] = sum / count;
    }
  }
}

// Same filter down each column; the columns advance together, row by row, which keeps memory
// access sequential without changing any column's arithmetic.
function boxAlongCols(input, output, rows, cols, window) {
  const [grow, growWrite, slide, shrink] = boxPhases(rows, window);
  const sums = new Float32Array(cols);
  let right = 0;
  let left = 0;
  let out = 0;
  let count = 0;
  for (let i = 0; i < grow; i++, right++) {
    const base = right * cols;
    for (let c = 0; c < cols; c++) sums[c] += input[base + c];
    count++;
  }
  for (let i = 0; i < growWrite; i++, right++, out++) {
    const base = right * cols;
    const target = out * cols;
    count++;
    for (let c = 0; c < cols; c++) {
      sums[c] += input[base + c];
      output[target + c] = sums[c] / count;
    }
  }
  for (let i = 0; i < slide; i++, right++, left++, out++) {
    const add = right * cols;
    const sub = left * cols;
    const target = out * cols;
    for (let c = 0; c < cols; c++) {
      sums[c] = fround(sums[c] + input[add + c]) - input[sub + c];
      output[target + c] = sums[c] / count;
    }
  }
  for (let i = 0; i < shrink; i++, left++, out++) {
    const sub = left * cols;
    const target = out * cols;
    count--;
    for (let c = 0; c < cols; c++) {
      sums[c] -= input[sub + c];
      output[target + c] = sums[c] / count;
    }
  }
}

// Sum of quantised vertical and horizontal gradients of the 64x64 sample, scaled to 0-100.
function qualityOf(sample) {
  let gradientSum = 0;
  for (let i = 0; i < SAMPLE - 1; i++) {
    for (let j = 0; j < SAMPLE; j++) {
      gradientSum += quantisedGradient(sample[i * SAMPLE + j], sample[(i + 1) * SAMPLE + j]);
    }
  }
  for (let i = 0; i < SAMPLE; i++) {
    for (let j = 0; j < SAMPLE - 1; j++) {
      gradientSum += quantisedGradient(sample[i * SAMPLE + j], sample[i * SAMPLE + j + 1]);
    }
  }
  return Math.min(100, Math.trunc(gradientSum / 90));
}

function quantisedGradient(u, v) {
  return Math.abs(Math.trunc(fround(fround(fround(u - v) * 100) / 255)));
}

// B = D A D^T, keeping rows/columns 1..16 of the 64-point DCT, summed in the reference's order.
function dct64To16(sample) {
  const D = DCT_MATRIX;
  const partial = new Float32Array(KEPT * SAMPLE);
  for (let i = 0; i < KEPT; i++) {
    for (let j = 0; j < SAMPLE; j++) {
      let sum = 0;
      for (let k = 0; k < SAMPLE; k++) {
        sum = fround(sum + fround(D[i * SAMPLE + k] * sample[k * SAMPLE + j]));
      }
      partial[i * SAMPLE + j] = sum;
    }
  }
  const out = new Float32Array(KEPT * KEPT);
  for (let i = 0; i < KEPT; i++) {
    for (let j = 0; j < KEPT; j++) {
      let sum = 0;
      for (let k = 0; k < SAMPLE; k++) {
        sum = fround(sum + fround(partial[i * SAMPLE + k] * D[j * SAMPLE + k]));
      }
      out[i * KEPT + j] = sum;
    }
  }
  return out;
}

// Bit i*16+j is set when coefficient (i, j) is above the median. The reference's median (Torben's
// selection on 256 values) is the 128th smallest value, so a sort gives the same threshold.
// Hex: the sixteen 16-bit words, most significant word first, as Meta's tools and pdqhash print.
function hexOfBits(dct) {
  const median = Float32Array.from(dct).sort()[Math.floor((dct.length + 1) / 2) - 1];
  const words = new Uint16Array(KEPT);
  for (let k = 0; k < dct.length; k++) {
    if (dct[k] > median) words[k >> 4] |= 1 << (k & 15);
  }
  let hex = "";
  for (let w = KEPT - 1; w >= 0; w--) hex += words[w].toString(16).padStart(4, "0");
  return hex;
}
