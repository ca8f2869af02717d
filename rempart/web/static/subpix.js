// Sub-pixel refinement of corners: OpenCV's cv::cornerSubPix (imgproc/src/cornersubpix.cpp) and
// the cv::getRectSubPix it calls (samplers.cpp, 8-bit grey to float), which OpenCV.js does not
// export. Every float operation of the C++ is rounded to float here (Math.fround) and every
// double one kept double, in the same order, so the same grey image and start points give the
// same refined points as OpenCV's portable code. (The Python wheel runs Intel IPP's getRectSubPix
// instead, which rounds differently: points differ by about 1e-5 pixel; docs/web.md.)

const f = Math.fround;
const MAX_ITERS = 100;
const SMALLEST_WEIGHT = f(0.0001);

/**
 * Refine corner points on an 8-bit grey image, as cv2.cornerSubPix(grey, points, (win, win),
 * (-1, -1), (EPS + MAX_ITER, maxIters, epsilon)).
 *
 * @param {Uint8Array} grey width * height pixels, row-major
 * @param {number} width
 * @param {number} height at least 2 * win + 5 each way (OpenCV asserts it too)
 * @param {Float32Array|number[]} points x0, y0, x1, y1, ... (pixels, inside the image)
 * @param {number} win half side of the search window
 * @param {number} maxIters iterations per point (1-100)
 * @param {number} epsilon stop when a step moves the point less than this (pixels)
 * @returns {Float32Array} the refined points, same layout
 */
export function cornerSubPix(grey, width, height, points, win, maxIters, epsilon) {
  if (width < win * 2 + 5 || height < win * 2 + 5) {
    throw new RangeError(`cornerSubPix needs an image of at least ${win * 2 + 5} pixels a side`);
  }
  const side = win * 2 + 1;
  const patch = side + 2;
  const mask = gaussianMask(win);
  const iterations = Math.min(Math.max(maxIters, 1), MAX_ITERS);
  const eps = epsilon * epsilon;
  const buffer = new Float32Array(patch * patch);
  const refined = new Float32Array(points.length);
  for (let p = 0; p < points.length; p += 2) {
    const startX = f(points[p]);
    const startY = f(points[p + 1]);
    let x = startX;
    let y = startY;
    let iteration = 0;
    let err = 0;
    do {
      rectSubPix(grey, width, height, patch, x, y, buffer);
      let a = 0;
      let b = 0;
      let c = 0;
      let bb1 = 0;
      let bb2 = 0;
      for (let i = 0, k = 0; i < side; i++) {
        const py = i - win;
        const row = (i + 1) * patch + 1;
        for (let j = 0; j < side; j++, k++) {
          const m = mask[k];
          const tgx = f(buffer[row + j + 1] - buffer[row + j - 1]);
          const tgy = f(buffer[row + j + patch] - buffer[row + j - patch]);
          const gxx = tgx * tgx * m;
          const gxy = tgx * tgy * m;
          const gyy = tgy * tgy * m;
          const px = j - win;
          a += gxx;
          b += gxy;
          c += gyy;
          bb1 += gxx * px + gxy * py;
          bb2 += gxy * px + gyy * py;
        }
      }
      const det = a * c - b * b;
      if (Math.abs(det) <= Number.EPSILON * Number.EPSILON) break;
      const scale = 1.0 / det;
      const nextX = f(x + c * scale * bb1 - b * scale * bb2);
      const nextY = f(y - b * scale * bb1 + a * scale * bb2);
      const dx = f(nextX - x);
      const dy = f(nextY - y);
      err = f(f(dx * dx) + f(dy * dy));
      // A step out of the image keeps the previous point.
      if (!(nextX >= 0 && nextX < width && nextY >= 0 && nextY < height)) break;
      x = nextX;
      y = nextY;
    } while (++iteration < iterations && err > eps);
    // Too far from the start: poor convergence, the start point is kept.
    if (Math.abs(x - startX) > win || Math.abs(y - startY) > win) {
      x = startX;
      y = startY;
    }
    refined[p] = x;
    refined[p + 1] = y;
  }
  return refined;
}

// The weights exp(-x^2) exp(-y^2) over the window, x and y from -1 to 1, as float.
function gaussianMask(win) {
  const side = win * 2 + 1;
  const mask = new Float32Array(side * side);
  for (let i = 0; i < side; i++) {
    const y = f((i - win) / win);
    const vy = f(Math.exp(f(-y * y)));
    for (let j = 0; j < side; j++) {
      const x = f((j - win) / win);
      mask[i * side + j] = f(vy * f(Math.exp(f(-x * x))));
    }
  }
  return mask;
}

// cv::getRectSubPix: the size x size patch centred on (cx, cy), bilinear, to float; pixels past
// the image's edges repeat the edge (OpenCV's adjustRect).
function rectSubPix(src, width, height, size, centreX, centreY, dst) {
  const cx = f(centreX - (size - 1) * 0.5);
  const cy = f(centreY - (size - 1) * 0.5);
  const ix = Math.floor(cx);
  const iy = Math.floor(cy);
  if (ix >= 0 && ix + size < width && iy >= 0 && iy + size < height) {
    // getRectSubPix_8u32f's inner path: a running sum along the row.
    const a = Math.max(f(cx - ix), SMALLEST_WEIGHT);
    const b = f(cy - iy);
    const b1 = f(1 - b);
    const a12 = f(a * b1);
    const a22 = f(a * b);
    const s = (1 - a) / a;
    const left = f(1 - a);
    for (let row = 0; row < size; row++) {
      const at = (iy + row) * width + ix;
      let prev = f(left * f(f(b1 * src[at]) + f(b * src[at + width])));
      for (let j = 0; j < size; j++) {
        const t = f(f(a12 * src[at + j + 1]) + f(a22 * src[at + j + 1 + width]));
        dst[row * size + j] = f(prev + t);
        prev = f(t * s);
      }
    }
    return;
  }
  // getRectSubPix_Cn_'s path for a patch partly outside the image.
  const a = f(cx - ix);
  const b = f(cy - iy);
  const a11 = f(f(1 - a) * f(1 - b));
  const a12 = f(a * f(1 - b));
  const a21 = f(f(1 - a) * b);
  const a22 = f(a * b);
  const b1 = f(1 - b);
  let origin = 0;
  let rx;
  let rw;
  let ry;
  let rh;
  if (ix >= 0) {
    origin += ix;
    rx = 0;
  } else {
    rx = Math.min(-ix, size);
  }
  if (ix < width - size) {
    rw = size;
  } else {
    rw = width - ix - 1;
    if (rw < 0) {
      origin += rw;
      rw = 0;
    }
  }
  if (iy >= 0) {
    origin += iy * width;
    ry = 0;
  } else {
    ry = -iy;
  }
  if (iy < height - size) {
    rh = size;
  } else {
    rh = height - iy - 1;
    if (rh < 0) {
      origin += rh * width;
      rh = 0;
    }
  }
  let top = origin - rx;
  for (let i = 0; i < size; i++) {
    const bottom = i < ry || i >= rh ? top : top + width;
    const out = i * size;
    let edge = f(f(src[top + rx] * b1) + f(src[bottom + rx] * b));
    for (let j = 0; j < rx; j++) dst[out + j] = edge;
    edge = f(f(src[top + rw] * b1) + f(src[bottom + rw] * b));
    for (let j = rw; j < size; j++) dst[out + j] = edge;
    for (let j = rx; j < rw; j++) {
      const upper = f(f(src[top + j] * a11) + f(src[top + j + 1] * a12));
      dst[out + j] = f(f(upper + f(src[bottom + j] * a21)) + f(src[bottom + j + 1] * a22));
    }
    if (i < rh) top = bottom;
  }
}
