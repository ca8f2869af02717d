// The regional signature in the browser: PDQ hashes of regions of a photo, each with its box,
// which catch "nudified" derivatives that keep the face and background of a photo and regenerate
// the body (whole-image PDQ misses them). A port of rempart/signals/regions.py
// compute_regional_signature: the same regions in the same order from the same upright pixels,
// the same boxes to 1/10000, the same PDQ of each region; docs/derivatives.md gives the rules and
// docs/web.md the measured agreement.
//
// OpenCV.js (vision.js) does what OpenCV does in Python, on the same pixels: the area resampling
// of the working copy and of every region, grey conversion, the Haar face cascade (same XML
// file), Gaussian blur and Shi-Tomasi corners. cornerSubPix, which OpenCV.js lacks, is ported in
// subpix.js; the frame detection (numpy in Python) is ported here. PDQ is pdq.js.

import { pdqFromRGBA } from "./pdq.js";
import { cornerSubPix } from "./subpix.js";
import { loadVision } from "./vision.js";

/**
 * The constants of rempart/signals/regions.py (and _faces.py for the cascade) this port uses;
 * tests/web/test_regions_js.py checks them against the Python module.
 */
export const LAYOUT = Object.freeze({
  WORKING_SIDE: 512,
  REGION_SIDE: 64,
  MAX_REFERENCE_REGIONS: 48,
  BOX_SCALE: 10_000,
  QUALITY_FLOOR: 50,
  FACE_REGIONS: [1.2, 1.0, 2.2],
  MAX_REFERENCE_FACES: 3,
  REFERENCE_ANCHORS: 10,
  MAX_REFERENCE_PAIRS: 12,
  ANCHOR_EDGE_MARGIN: 0.12,
  ANCHOR_BLUR: 0.006,
  ANCHOR_SPACING: 0.06,
  ANCHOR_QUALITY: 0.02,
  PAIR_MIN_SIDE: 0.15,
  PAIR_MAX_ASPECT: 3.0,
  SQUARE_MIN_ASPECT: 1.05,
  BORDER_TOLERANCE: 12,
  MAX_BORDER: 0.25,
  MAX_BORDER_SHARE: 0.1,
  EDGE_SHARE: 0.5,
  DETECTION_SIDE: 320,
  SCALE_FACTOR: 1.2,
  MIN_NEIGHBORS: 4,
  MIN_FACE_PIXELS: 24,
});

const L = LAYOUT;
const WHOLE = [0.0, 0.0, 1.0, 1.0];
// cv2.goodFeaturesToTrack's block size and cv2.cornerSubPix's window, criteria as in Python.
const CORNER_BLOCK = 7;
const SUBPIX_WINDOW = 5;
const SUBPIX_ITERATIONS = 20;
const SUBPIX_EPSILON = 0.03;

/**
 * The reference regional signature of upright RGBA pixels (the pixels hashImageFile hashes with
 * PDQ: what Python's decode_image gives as `rgb`).
 *
 * @param {Uint8Array|Uint8ClampedArray} rgba width * height * 4 bytes (alpha ignored)
 * @param {number} width
 * @param {number} height
 * @returns {Promise<{type: "regions", regions: Array<{value: string, quality: number,
 *   box: number[]}>}>} the wire signal `POST /v1/cases` takes, as `rempart hash --regions`
 *   writes it: at most 48 regions, boxes [x0, y0, x1, y1] in 0-1 image coordinates
 * @throws {Error} OpenCV.js cannot be loaded from this server; RangeError for an image whose
 *   512-px working copy is under 15 px on a side (OpenCV's cornerSubPix refuses it in Python too)
 */
export async function regionalSignature(rgba, width, height) {
  return signatureWith(await loadVision(), rgba, width, height);
}

/**
 * The face boxes (normalised, largest first, all of them) the cascade finds on the working copy
 * of upright RGBA pixels: what the signature's face regions are grown from. For the parity tests
 * and for looking into a signature; only regions ever leave the device.
 *
 * @returns {Promise<number[][]>} [x0, y0, x1, y1] boxes in 0-1 image coordinates
 */
export async function faceBoxes(rgba, width, height) {
  const vision = await loadVision();
  const canvas = new WorkingCopy(vision.cv, rgba, width, height);
  try {
    return detectFaces(vision, canvas.grey);
  } finally {
    canvas.delete();
  }
}

/**
 * regionalSignature with OpenCV.js already loaded (`vision` from loadVision()).
 */
export function signatureWith(vision, rgba, width, height) {
  const canvas = new WorkingCopy(vision.cv, rgba, width, height);
  try {
    return { type: "regions", regions: referenceRegions(vision, canvas) };
  } finally {
    canvas.delete();
  }
}

function referenceRegions(vision, canvas) {
  const boxes = [WHOLE];
  for (const face of detectFaces(vision, canvas.grey).slice(0, L.MAX_REFERENCE_FACES)) {
    for (const growth of L.FACE_REGIONS) boxes.push(grow(face, growth));
  }
  boxes.push(...grid(3));
  const square = centredSquare(canvas.width, canvas.height);
  if (square !== null) boxes.push(square, ...grid(3, square).slice(0, 6), ...grid(4, square).slice(0, 4));
  boxes.push(...upperBand());
  const anchors = awayFromEdges(findAnchors(vision.cv, canvas.grey, 2 * L.REFERENCE_ANCHORS));
  const pairs = canvas.regions(pairBoxes(anchors.slice(0, L.REFERENCE_ANCHORS)), L.MAX_REFERENCE_PAIRS);
  boxes.push(...pairs.map((region) => region.box));
  boxes.push(...grid(4).slice(4));
  // Python hashes every box and keeps the first 48; stopping at 48 gives the same list.
  return canvas.regions(boxes, L.MAX_REFERENCE_REGIONS);
}

// The working copy: longest side at most 512 (area interpolation), its grey version, and the box
// inside a uniform frame when there is one.
class WorkingCopy {
  constructor(cv, rgba, width, height) {
    this.cv = cv;
    const full = new cv.Mat(height, width, cv.CV_8UC3);
    const rgb = full.data;
    for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
      rgb[o] = rgba[i];
      rgb[o + 1] = rgba[i + 1];
      rgb[o + 2] = rgba[i + 2];
    }
    const scale = L.WORKING_SIDE / Math.max(height, width);
    if (scale < 1) {
      this.rgb = new cv.Mat();
      const size = new cv.Size(
        Math.max(1, roundHalfEven(width * scale)),
        Math.max(1, roundHalfEven(height * scale)),
      );
      cv.resize(full, this.rgb, size, 0, 0, cv.INTER_AREA);
      full.delete();
    } else {
      this.rgb = full;
    }
    this.width = this.rgb.cols;
    this.height = this.rgb.rows;
    this.grey = new cv.Mat();
    cv.cvtColor(this.rgb, this.grey, cv.COLOR_RGB2GRAY);
    this.content = contentBox(this.grey.data, this.width, this.height);
    this.tile = new cv.Mat();
    this.tileSize = new cv.Size(L.REGION_SIDE, L.REGION_SIDE);
    this.tileRGBA = new Uint8ClampedArray(L.REGION_SIDE * L.REGION_SIDE * 4).fill(255);
  }

  delete() {
    this.rgb.delete();
    this.grey.delete();
    this.tile.delete();
  }

  // Whether more than 10% of the box lies on a uniform frame (frames carry no identity).
  mostlyBorder(box) {
    if (this.content === null) return false;
    const [cx0, cy0, cx1, cy1] = this.content;
    const [x0, y0, x1, y1] = box;
    const inside =
      Math.max(0.0, Math.min(x1, cx1) - Math.max(x0, cx0)) *
      Math.max(0.0, Math.min(y1, cy1) - Math.max(y0, cy0));
    return inside < (1.0 - L.MAX_BORDER_SHARE) * (x1 - x0) * (y1 - y0);
  }

  // PDQ of the box: its pixels resampled to 64x64 with area interpolation.
  hash(box) {
    const x0 = Math.min(this.width - 1, Math.max(0, roundHalfEven(box[0] * this.width)));
    const y0 = Math.min(this.height - 1, Math.max(0, roundHalfEven(box[1] * this.height)));
    const x1 = Math.max(x0 + 1, Math.min(this.width, roundHalfEven(box[2] * this.width)));
    const y1 = Math.max(y0 + 1, Math.min(this.height, roundHalfEven(box[3] * this.height)));
    const view = this.rgb.roi(new this.cv.Rect(x0, y0, x1 - x0, y1 - y0));
    try {
      this.cv.resize(view, this.tile, this.tileSize, 0, 0, this.cv.INTER_AREA);
    } finally {
      view.delete();
    }
    const rgb = this.tile.data;
    const rgba = this.tileRGBA;
    for (let i = 0, o = 0; o < rgba.length; i += 3, o += 4) {
      rgba[o] = rgb[i];
      rgba[o + 1] = rgb[i + 1];
      rgba[o + 2] = rgb[i + 2];
    }
    return pdqFromRGBA(rgba, L.REGION_SIDE, L.REGION_SIDE);
  }

  // The boxes (in order) off the frame and at or above the quality floor, as wire regions with
  // quantised boxes; the first `limit` of them.
  regions(boxes, limit) {
    const found = [];
    for (const box of boxes) {
      if (found.length >= limit) break;
      if (this.mostlyBorder(box)) continue;
      const { hash, quality } = this.hash(box);
      if (quality >= L.QUALITY_FLOOR) found.push({ value: hash, quality, box: quantiseBox(box) });
    }
    return found;
  }
}

// Face boxes (normalised) from the cascade on a grey copy reduced to 320 px, largest first.
function detectFaces({ cv, cascade }, grey) {
  const scale = L.DETECTION_SIDE / Math.max(grey.rows, grey.cols);
  let small = grey;
  if (scale < 1) {
    small = new cv.Mat();
    const size = new cv.Size(
      Math.max(1, roundHalfEven(grey.cols * scale)),
      Math.max(1, roundHalfEven(grey.rows * scale)),
    );
    cv.resize(grey, small, size, 0, 0, cv.INTER_AREA);
  }
  const found = new cv.RectVector();
  const boxes = [];
  try {
    const minimum = new cv.Size(L.MIN_FACE_PIXELS, L.MIN_FACE_PIXELS);
    cascade.detectMultiScale(small, found, L.SCALE_FACTOR, L.MIN_NEIGHBORS, 0, minimum, new cv.Size(0, 0));
    const width = small.cols;
    const height = small.rows;
    for (let i = 0; i < found.size(); i++) {
      const { x, y, width: w, height: h } = found.get(i);
      boxes.push([x / width, y / height, (x + w) / width, (y + h) / height]);
    }
  } finally {
    found.delete();
    if (small !== grey) small.delete();
  }
  // Python sorts by (-area, box): largest first, ties by the box's coordinates.
  const key = (b) => -(b[2] - b[0]) * (b[3] - b[1]);
  return boxes.sort((a, b) => key(a) - key(b) || a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
}

// Up to `count` corners (normalised), strongest first: Shi-Tomasi on a copy blurred by 0.6% of
// the short side, at least 6% of it apart, refined to sub-pixel.
function findAnchors(cv, grey, count) {
  const width = grey.cols;
  const height = grey.rows;
  const short = Math.min(width, height);
  // The sub-pixel refinement's window needs 2 * 5 + 5 pixels each way (as in regions.py).
  if (short < 2 * SUBPIX_WINDOW + 5) return [];
  const blurred = new cv.Mat();
  const corners = new cv.Mat();
  const noMask = new cv.Mat();
  try {
    const sigma = Math.max(0.5, L.ANCHOR_BLUR * short);
    cv.GaussianBlur(grey, blurred, new cv.Size(0, 0), sigma, 0, cv.BORDER_DEFAULT);
    cv.goodFeaturesToTrack(
      blurred, corners, count, L.ANCHOR_QUALITY, L.ANCHOR_SPACING * short, noMask, CORNER_BLOCK, false, 0.04,
    );
    if (corners.rows === 0) return [];
    const refined = cornerSubPix(
      blurred.data, width, height, corners.data32F, SUBPIX_WINDOW, SUBPIX_ITERATIONS, SUBPIX_EPSILON,
    );
    const points = [];
    for (let i = 0; i < refined.length; i += 2) points.push([refined[i] / width, refined[i + 1] / height]);
    return points;
  } finally {
    blurred.delete();
    corners.delete();
    noMask.delete();
  }
}

// The points at least 12% from every edge first, order otherwise kept (crops take edges away).
function awayFromEdges(points) {
  const nearEdge = ([x, y]) => Math.min(x, y, 1.0 - x, 1.0 - y) < L.ANCHOR_EDGE_MARGIN;
  return [...points].sort((a, b) => nearEdge(a) - nearEdge(b));
}

// Boxes spanned by two anchors, pairs of the strongest first: at least 15% of the image each way,
// sides within 3:1.
function pairBoxes(points) {
  const found = [];
  for (let second = 1; second < points.length; second++) {
    for (let first = 0; first < second; first++) {
      const [ax, ay] = points[first];
      const [bx, by] = points[second];
      const box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
      const width = box[2] - box[0];
      const height = box[3] - box[1];
      if (
        Math.min(width, height) >= L.PAIR_MIN_SIDE &&
        Math.max(width, height) <= L.PAIR_MAX_ASPECT * Math.min(width, height) &&
        inside(box)
      ) {
        found.push(box);
      }
    }
  }
  return found;
}

/** The n x n tiles of `frame`, row by row from the top left. */
export function grid(n, frame = WHOLE) {
  const [x0, y0, x1, y1] = frame;
  const w = (x1 - x0) / n;
  const h = (y1 - y0) / n;
  const tiles = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      tiles.push([x0 + col * w, y0 + row * h, x0 + (col + 1) * w, y0 + (row + 1) * h]);
    }
  }
  return tiles;
}

function grow(box, factor) {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const hw = ((box[2] - box[0]) * factor) / 2;
  const hh = ((box[3] - box[1]) * factor) / 2;
  return [Math.max(0.0, cx - hw), Math.max(0.0, cy - hh), Math.min(1.0, cx + hw), Math.min(1.0, cy + hh)];
}

// The 4x4 grid's top row, then the four middle tiles of the 6x6 grid's second row.
function upperBand() {
  return [...grid(4).slice(0, 4), ...grid(6).slice(7, 11)];
}

// The centred square crop (as nudification tools prepare their input), null when nearly square.
function centredSquare(width, height) {
  if (Math.max(width, height) < L.SQUARE_MIN_ASPECT * Math.min(width, height)) return null;
  if (width > height) {
    const margin = (1.0 - height / width) / 2;
    return [margin, 0.0, 1.0 - margin, 1.0];
  }
  const margin = (1.0 - width / height) / 2;
  return [0.0, margin, 1.0, 1.0 - margin];
}

function inside(box) {
  return box[0] >= 0.0 && box[1] >= 0.0 && box[2] <= 1.0 && box[3] <= 1.0;
}

/** A box rounded to 1/10000 of a side, as Python's quantise_box (round half to even). */
export function quantiseBox(box) {
  return box.map((v) => roundHalfEven(v * L.BOX_SCALE) / L.BOX_SCALE);
}

// Python's round(): to the nearest integer, halves to even.
function roundHalfEven(x) {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// The box inside a uniform border (padding, a screenshot's frame), or null without one: from
// each edge, lines belong to the border while 95% of their pixels lie within 12 grey levels of
// the outermost line's median, at most 25% of a side; null when no side loses 1% of the image.
function contentBox(grey, width, height) {
  const rowLimit = roundHalfEven(height * L.MAX_BORDER);
  const columnLimit = roundHalfEven(width * L.MAX_BORDER);
  // Each side as lines from the edge inwards: pixel (line i, position j) = grey[start + i * step + j * along].
  const top = borderDepth(grey, 0, width, 1, height, width, rowLimit);
  const bottom = borderDepth(grey, (height - 1) * width, -width, 1, height, width, rowLimit);
  const left = borderDepth(grey, 0, 1, width, width, height, columnLimit);
  const right = borderDepth(grey, width - 1, -1, width, width, height, columnLimit);
  if (Math.max(top / height, bottom / height, left / width, right / width) < 0.01) return null;
  return quantiseBox([left / width, top / height, (width - right) / width, (height - bottom) / height]);
}

// How many leading lines form a frame in the outermost line's colour, counted only when the
// picture starts with a straight edge right after them (Python's _border_depth).
function borderDepth(grey, start, step, along, lines, length, limit) {
  if (limit < 1 || lines <= limit + 2) return 0;
  const pixel = (line, j) => grey[start + line * step + j * along];
  const colour = Math.trunc(median(Array.from({ length }, (_, j) => pixel(0, j))));
  const deviations = new Uint32Array(256);
  let depth = -1;
  for (let line = 0; line < limit; line++) {
    deviations.fill(0);
    for (let j = 0; j < length; j++) deviations[Math.abs(pixel(line, j) - colour)]++;
    if (!(percentile95(deviations, length) <= L.BORDER_TOLERANCE)) {
      depth = line;
      break;
    }
  }
  if (depth <= 0) return 0; // every line uniform, or the outermost one is not
  let off = 0;
  for (let line = depth + 1; line < depth + 3; line++) {
    for (let j = 0; j < length; j++) if (Math.abs(pixel(line, j) - colour) > L.BORDER_TOLERANCE) off++;
  }
  return off / (2 * length) >= L.EDGE_SHARE ? depth : 0;
}

// numpy's median: the middle value, or the mean of the two middle values.
function median(values) {
  values.sort((a, b) => a - b);
  const half = values.length >> 1;
  return values.length % 2 ? values[half] : (values[half - 1] + values[half]) / 2;
}

// numpy's percentile(..., 95) ("linear" method) of `count` values given as a histogram of 0-255.
function percentile95(histogram, count) {
  const virtual = (count - 1) * 0.95;
  let below = Math.floor(virtual);
  let above = below + 1;
  if (virtual >= count - 1) below = above = count - 1;
  const a = nth(histogram, below);
  const b = nth(histogram, above);
  const gamma = virtual - Math.floor(virtual);
  const difference = b - a;
  return gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma;
}

// The value at `index` of the sorted values a histogram counts.
function nth(histogram, index) {
  let seen = 0;
  for (let value = 0; value < histogram.length; value++) {
    seen += histogram[value];
    if (seen > index) return value;
  }
  throw new RangeError(`index ${index} past the ${seen} values`);
}
