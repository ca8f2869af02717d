// Fingerprint an image file inside the browser: the same record `rempart hash` prints, computed
// without the file leaving the device. Only the hashes it returns are ever meant to be sent.
//
// Mirrors rempart/media/image.py + rempart/signals/compute.py: the same limits, the same EXIF
// orientation rule, transparency over white, large images reduced to the working size with
// Pillow's BOX filter, PDQ of the upright pixels (and of the stored pixels when the orientation is
// not 1), MD5 and SHA-256 of the file's bytes. Works in a window or a dedicated worker (it uses
// createImageBitmap and OffscreenCanvas, never the DOM). See docs/web-pdq.md.

import { readImageInfo, withStoredOrientation } from "./imageinfo.js";
import { md5Hex } from "./md5.js";
import {
  averageBlocks,
  boxCoefficients,
  compositeOverWhite,
  jpegDraftScale,
  orient,
  resampleColumns,
  resampleRows,
  workingSize,
} from "./pixels.js";
import { pdqFromRGBA } from "./pdq.js";
import { regionalSignature } from "./regions.js";

/** rempart's MediaLimits defaults (rempart/media/limits.py). */
export const DEFAULT_LIMITS = Object.freeze({
  maxBytes: 200 * 1024 * 1024,
  maxPixels: 100_000_000,
  workingSide: 2048,
  minSide: 5,
});

// Formats a browser decodes with createImageBitmap. TIFF and HEIF (HEIC) are read by the CLI only.
const BROWSER_FORMATS = ["JPEG", "PNG", "GIF", "BMP", "WEBP", "AVIF"];

const MIME_TYPES = {
  JPEG: "image/jpeg",
  PNG: "image/png",
  GIF: "image/gif",
  BMP: "image/bmp",
  WEBP: "image/webp",
  AVIF: "image/avif",
};

// Pixels read back from the decoder per canvas strip (about 16 MB of RGBA), so that a large photo
// is never held twice at full size while it is reduced.
const STRIP_PIXELS = 4 * 1024 * 1024;

/**
 * Why a file could not be hashed. `type` is the name of the matching Python error
 * (rempart.errors): "UnsupportedFormat", "CorruptMedia", "TooLarge" or "TooSmall", so
 * `{path, error: {type, message}}` reads like a `rempart hash` error record.
 */
export class ImageHashError extends Error {
  constructor(type, message) {
    super(message);
    this.name = "ImageHashError";
    this.type = type;
  }
}

/**
 * Hash one image file.
 *
 * @param {File|Blob} file the image (a File from an <input type=file> or a drop)
 * @param {Partial<typeof DEFAULT_LIMITS>} [limits] overrides of DEFAULT_LIMITS
 * @param {{regions?: boolean}} [options] `regions`: add the regional signature (regions.js), as
 *   `rempart hash --regions` does; it loads OpenCV.js from this server on first use
 * @returns {Promise<object>} the `rempart hash` record: path (the file's name, for display only:
 *   never send it), pdq (64 hex digits), quality (0-100), md5, sha256 (lowercase hex), width and
 *   height (upright size of the original), format ("JPEG", "PNG", "WEBP", "GIF", "BMP", "AVIF"),
 *   orientation (EXIF, 1-8), pdq_stored_order / quality_stored_order when orientation is not 1,
 *   and with `regions`, regions (the wire signal `{type: "regions", regions: [...]}`).
 * @throws {ImageHashError} the file is not a readable image, or is over or under the limits
 * @throws {Error} SHA-256 needs WebCrypto, which browsers give only to secure contexts (https or
 *   localhost); with `regions`, OpenCV.js could not be loaded
 */
export async function hashImageFile(file, limits = {}, options = {}) {
  const limit = { ...DEFAULT_LIMITS, ...limits };
  if (file.size > limit.maxBytes) {
    throw new ImageHashError("TooLarge", `${file.size} bytes is over the ${limit.maxBytes}-byte limit`);
  }
  const buffer = await file.arrayBuffer();
  const bytes = new Uint8Array(buffer);
  const info = checkHeader(bytes, limit);
  const [sha256, stored] = await Promise.all([
    sha256Hex(buffer),
    decodeWorkingPixels(withStoredOrientation(bytes, info), info.format, limit),
  ]);
  const upright = orient(stored.pixels, stored.width, stored.height, info.orientation);
  const pdq = pdqFromRGBA(upright.data, upright.width, upright.height);
  const swapped = info.orientation >= 5;
  const record = {
    path: file.name ?? "",
    pdq: pdq.hash,
    quality: pdq.quality,
    md5: md5Hex(bytes),
    sha256,
    width: swapped ? stored.fullHeight : stored.fullWidth,
    height: swapped ? stored.fullWidth : stored.fullHeight,
    format: info.format,
    orientation: info.orientation,
  };
  if (info.orientation !== 1) {
    const storedPdq = pdqFromRGBA(stored.pixels, stored.width, stored.height);
    record.pdq_stored_order = storedPdq.hash;
    record.quality_stored_order = storedPdq.quality;
  }
  if (options.regions) record.regions = await regionalSignature(upright.data, upright.width, upright.height);
  return record;
}

/**
 * The signals a case stores for a hashed image, in the wire form of the API (as Python's
 * ImageSignals.signals() and to_json()): the upright PDQ, the stored-order PDQ when there is
 * one, then MD5 and SHA-256, then the regional signature when the record has one.
 *
 * @param {object} record a record from hashImageFile
 * @returns {Array<{type: string, value: string, quality?: number}>}
 */
export function signalsOfRecord(record) {
  const signals = [{ type: "pdq", value: record.pdq, quality: record.quality }];
  if (record.pdq_stored_order !== undefined) {
    signals.push({ type: "pdq", value: record.pdq_stored_order, quality: record.quality_stored_order });
  }
  signals.push({ type: "md5", value: record.md5 }, { type: "sha256", value: record.sha256 });
  if (record.regions !== undefined) signals.push(record.regions);
  return signals;
}

function checkHeader(bytes, limit) {
  if (bytes.length === 0) throw new ImageHashError("UnsupportedFormat", "the file is empty");
  const info = readImageInfo(bytes);
  if (info.format === null) {
    throw new ImageHashError(
      "UnsupportedFormat",
      "not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, AVIF)",
    );
  }
  if (!BROWSER_FORMATS.includes(info.format)) {
    throw new ImageHashError(
      "UnsupportedFormat",
      `${info.format} images cannot be read in the browser; hash them with the rempart command line`,
    );
  }
  if (info.truncated) {
    throw new ImageHashError("CorruptMedia", `${info.format} data is cut short (truncated file)`);
  }
  if (info.width !== null) checkSize(info.width, info.height, limit);
  return info;
}

function checkSize(width, height, limit) {
  if (width * height > limit.maxPixels) {
    throw new ImageHashError(
      "TooLarge",
      `${width}x${height} is ${width * height} pixels, over the ${limit.maxPixels}-pixel limit`,
    );
  }
  if (Math.min(width, height) < limit.minSide) {
    throw new ImageHashError(
      "TooSmall",
      `${width}x${height} is too small to fingerprint (each side needs at least ${limit.minSide} pixels)`,
    );
  }
}

// Decode bytes whose orientation tag was neutralised, so in stored order (rempart applies the
// orientation itself, as Python does), with no colour management (Pillow applies none); composite
// over white and reduce to the working size.
async function decodeWorkingPixels(bytes, format, limit) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: MIME_TYPES[format] }), {
      imageOrientation: "from-image",
      premultiplyAlpha: "none",
      colorSpaceConversion: "none",
    });
  } catch (error) {
    throw new ImageHashError("CorruptMedia", `${format} data cannot be decoded: ${error.message}`);
  }
  try {
    const fullWidth = bitmap.width;
    const fullHeight = bitmap.height;
    checkSize(fullWidth, fullHeight, limit);
    const [width, height] = workingSize(fullWidth, fullHeight, limit.workingSide);
    const reduced = width !== fullWidth || height !== fullHeight;
    // Python decodes a JPEG it reduces at 1/2, 1/4 or 1/8 scale first (Pillow's draft mode).
    const draft = reduced && format === "JPEG" ? jpegDraftScale(fullWidth, fullHeight, width, height) : 1;
    const pixels = readReduced(bitmap, draft, width, height);
    return { pixels, width, height, fullWidth, fullHeight };
  } finally {
    bitmap.close();
  }
}

// Read the bitmap a strip of rows at a time (a whole number of draft blocks); each strip is
// composited, block-averaged at the draft scale, and passed through Pillow's horizontal BOX pass
// when the width changes; the vertical pass follows on the whole.
function readReduced(bitmap, draft, width, height) {
  const fullWidth = bitmap.width;
  const fullHeight = bitmap.height;
  const draftWidth = Math.ceil(fullWidth / draft);
  const draftHeight = Math.ceil(fullHeight / draft);
  const fitting = Math.max(1, Math.floor(STRIP_PIXELS / fullWidth / draft)) * draft;
  const stripRows = Math.min(fullHeight, fitting);
  const canvas = new OffscreenCanvas(fullWidth, stripRows);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.globalCompositeOperation = "copy";
  context.imageSmoothingEnabled = false;
  const horizontal = width !== draftWidth ? boxCoefficients(draftWidth, width) : null;
  const rows = new Uint8ClampedArray(width * draftHeight * 4);
  for (let top = 0; top < fullHeight; top += stripRows) {
    const count = Math.min(stripRows, fullHeight - top);
    context.drawImage(bitmap, 0, top, fullWidth, count, 0, 0, fullWidth, count);
    let strip = context.getImageData(0, 0, fullWidth, count).data;
    compositeOverWhite(strip);
    if (draft > 1) strip = averageBlocks(strip, fullWidth, count, draft);
    const stripHeight = Math.ceil(count / draft);
    if (horizontal) resampleRows(strip, draftWidth, stripHeight, horizontal, rows, width, top / draft);
    else rows.set(strip, (top / draft) * width * 4);
  }
  if (height === draftHeight) return rows;
  return resampleColumns(rows, width, boxCoefficients(draftHeight, height), height);
}

async function sha256Hex(buffer) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("SHA-256 needs WebCrypto, which the browser only offers on https or localhost");
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
