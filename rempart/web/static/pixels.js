// Pixel operations that must give the same bytes as the Python side (rempart/media/image.py,
// Pillow): transparency composited over white, the reduction of large images to the working size
// (Pillow's BOX filter in its fixed-point form, after JPEG draft-mode scaling), and the EXIF
// orientation transposes.
//
// Pixels are RGBA, row-major, 4 bytes a pixel, like ImageData.data; alpha is 255 once
// composited.

// Extreme aspect ratios must not collapse a side below this when reducing (as in Python).
const MIN_REDUCED_SIDE = 32;

// Pillow's fixed-point precision for 8-bit resampling (32 bits minus 8 for the value, minus 2).
const PRECISION_BITS = 22;

/**
 * The size an image of `width` x `height` is reduced to so that its longest side is at most
 * `workingSide`, rounding as Python's round() does (half to even).
 *
 * @returns {[number, number]}
 */
export function workingSize(width, height, workingSide) {
  const scale = workingSide / Math.max(width, height);
  if (scale >= 1) return [width, height];
  return [
    Math.max(roundHalfEven(width * scale), Math.min(width, MIN_REDUCED_SIDE)),
    Math.max(roundHalfEven(height * scale), Math.min(height, MIN_REDUCED_SIDE)),
  ];
}

function roundHalfEven(x) {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The scale (1, 2, 4 or 8) at which Pillow's JPEG draft mode decodes an image it will reduce from
 * `width` x `height` to `targetWidth` x `targetHeight`: the largest that keeps both sides at
 * least the target (PIL.JpegImagePlugin.draft). The decoded size is ceil(side / scale).
 */
export function jpegDraftScale(width, height, targetWidth, targetHeight) {
  const fits = Math.min(Math.floor(width / targetWidth), Math.floor(height / targetHeight));
  return [8, 4, 2, 1].find((scale) => fits >= scale) ?? 1;
}

/**
 * Average `scale` x `scale` blocks of RGBA rows (`width` wide, `rows` high; partial blocks at the
 * right and bottom edges average what they cover), rounding half up. Stands in for libjpeg's
 * DCT-domain scaling, which the browser does not expose: the two differ by a grey level here and
 * there, which moves no PDQ bit on the large photos measured (docs/web-pdq.md).
 *
 * @returns {Uint8ClampedArray} ceil(width / scale) x ceil(rows / scale) RGBA pixels
 */
export function averageBlocks(source, width, rows, scale) {
  const outWidth = Math.ceil(width / scale);
  const outRows = Math.ceil(rows / scale);
  const out = new Uint8ClampedArray(outWidth * outRows * 4);
  const sums = new Uint32Array(outWidth * 3);
  const counts = new Uint32Array(outWidth);
  for (let outRow = 0; outRow < outRows; outRow++) {
    sums.fill(0);
    counts.fill(0);
    for (let y = outRow * scale; y < Math.min(rows, (outRow + 1) * scale); y++) {
      for (let x = 0, p = y * width * 4; x < width; x++, p += 4) {
        const block = Math.floor(x / scale);
        sums[block * 3] += source[p];
        sums[block * 3 + 1] += source[p + 1];
        sums[block * 3 + 2] += source[p + 2];
        counts[block]++;
      }
    }
    for (let block = 0, o = outRow * outWidth * 4; block < outWidth; block++, o += 4) {
      const n = counts[block];
      out[o] = Math.floor((2 * sums[block * 3] + n) / (2 * n));
      out[o + 1] = Math.floor((2 * sums[block * 3 + 1] + n) / (2 * n));
      out[o + 2] = Math.floor((2 * sums[block * 3 + 2] + n) / (2 * n));
      out[o + 3] = 255;
    }
  }
  return out;
}

/**
 * Composite RGBA pixels over opaque white in place, with Pillow's integer arithmetic
 * (Image.alpha_composite of the image over a white RGBA image). Opaque pixels are unchanged.
 */
export function compositeOverWhite(rgba) {
  for (let p = 0; p < rgba.length; p += 4) {
    const alpha = rgba[p + 3];
    if (alpha === 255) continue;
    rgba[p + 3] = 255;
    if (alpha === 0) {
      rgba[p] = rgba[p + 1] = rgba[p + 2] = 255;
      continue;
    }
    // With an opaque white destination Pillow's coefficients reduce to alpha*128 and
    // (255-alpha)*128 (7 bits of precision), then a rounded division by 255 by shifts.
    const source = alpha * 128;
    const white = 255 * (255 - alpha) * 128;
    for (let c = p; c < p + 3; c++) {
      const value = rgba[c] * source + white + (0x80 << 7);
      rgba[c] = (((value >>> 8) + value) >>> 8) >>> 7;
    }
  }
}

/**
 * Pillow's resampling coefficients for the BOX filter along one axis: for each output sample,
 * the first input index, the number of inputs, and their fixed-point weights.
 */
export function boxCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 0.5 * filterScale;
  const kernelSize = Math.ceil(support) * 2 + 1;
  const starts = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const weights = new Int32Array(outSize * kernelSize);
  const raw = new Float64Array(kernelSize);
  const inverse = 1.0 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const count = Math.min(Math.trunc(center + support + 0.5), inSize) - first;
    let total = 0;
    for (let x = 0; x < count; x++) {
      const at = (x + first - center + 0.5) * inverse;
      raw[x] = at > -0.5 && at <= 0.5 ? 1 : 0;
      total += raw[x];
    }
    for (let x = 0; x < count; x++) {
      const weight = total !== 0 ? raw[x] / total : raw[x];
      weights[out * kernelSize + x] = Math.trunc(0.5 + weight * (1 << PRECISION_BITS));
    }
    starts[out] = first;
    counts[out] = count;
  }
  return { starts, counts, weights, kernelSize };
}

/**
 * Horizontal BOX pass over `rows` rows of an RGBA buffer `width` wide, writing `outWidth`-wide
 * rows into `target` from row `targetRow` on (Pillow's first pass; alpha is left at 255).
 */
export function resampleRows(source, width, rows, coefficients, target, outWidth, targetRow) {
  const { starts, counts, weights, kernelSize } = coefficients;
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < rows; y++) {
    const inRow = y * width * 4;
    let out = (targetRow + y) * outWidth * 4;
    for (let x = 0; x < outWidth; x++, out += 4) {
      let r = half;
      let g = half;
      let b = half;
      let p = inRow + starts[x] * 4;
      const k = x * kernelSize;
      for (let i = 0; i < counts[x]; i++, p += 4) {
        const weight = weights[k + i];
        r += source[p] * weight;
        g += source[p + 1] * weight;
        b += source[p + 2] * weight;
      }
      target[out] = clip8(r);
      target[out + 1] = clip8(g);
      target[out + 2] = clip8(b);
      target[out + 3] = 255;
    }
  }
}

/** Vertical BOX pass (Pillow's second pass) from an RGBA buffer `width` wide. */
export function resampleColumns(source, width, coefficients, outHeight) {
  const { starts, counts, weights, kernelSize } = coefficients;
  const half = 1 << (PRECISION_BITS - 1);
  const target = new Uint8ClampedArray(width * outHeight * 4);
  const rowBytes = width * 4;
  for (let y = 0; y < outHeight; y++) {
    const k = y * kernelSize;
    const first = starts[y] * rowBytes;
    let out = y * rowBytes;
    for (let x = 0; x < rowBytes; x += 4, out += 4) {
      let r = half;
      let g = half;
      let b = half;
      let p = first + x;
      for (let i = 0; i < counts[y]; i++, p += rowBytes) {
        const weight = weights[k + i];
        r += source[p] * weight;
        g += source[p + 1] * weight;
        b += source[p + 2] * weight;
      }
      target[out] = clip8(r);
      target[out + 1] = clip8(g);
      target[out + 2] = clip8(b);
      target[out + 3] = 255;
    }
  }
  return target;
}

function clip8(value) {
  const shifted = Math.floor(value / (1 << PRECISION_BITS));
  return shifted < 0 ? 0 : shifted > 255 ? 255 : shifted;
}

/**
 * Turn stored-order pixels upright for an EXIF orientation (1-8), with the transposes Python
 * applies (FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM, TRANSPOSE, ROTATE_270, TRANSVERSE,
 * ROTATE_90 for 2-8).
 *
 * @returns {{data: Uint8ClampedArray, width: number, height: number}}
 */
export function orient(data, width, height, orientation) {
  if (orientation === 1) return { data, width, height };
  const swaps = orientation >= 5;
  const outWidth = swaps ? height : width;
  const outHeight = swaps ? width : height;
  const out = new Uint8ClampedArray(data.length);
  const words = new Uint32Array(data.buffer, data.byteOffset, width * height);
  const outWords = new Uint32Array(out.buffer);
  // For each upright pixel (x, y), the stored pixel it shows.
  const source = {
    2: (x, y) => y * width + (width - 1 - x),
    3: (x, y) => (height - 1 - y) * width + (width - 1 - x),
    4: (x, y) => (height - 1 - y) * width + x,
    5: (x, y) => x * width + y,
    6: (x, y) => (height - 1 - x) * width + y,
    7: (x, y) => (height - 1 - x) * width + (width - 1 - y),
    8: (x, y) => x * width + (width - 1 - y),
  }[orientation];
  if (!source) throw new RangeError(`EXIF orientation is 1-8, got ${orientation}`);
  for (let y = 0, i = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++, i++) outWords[i] = words[source(x, y)];
  }
  return { data: out, width: outWidth, height: outHeight };
}
