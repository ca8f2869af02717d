// What an image file says about itself before any pixel is decoded: its format, its declared size
// in stored order, its EXIF orientation, and whether it visibly ends early.
//
// rempart reads the orientation itself, with Pillow's rules, so that it matches the Python side
// (rempart/media/image.py). Browsers always apply EXIF orientation when they decode (for
// createImageBitmap, imageOrientation "none" is an old alias of "from-image"), so the pixels in
// stored order are had by decoding a copy of the file whose orientation tag reads 1
// (`withStoredOrientation`). Malformed metadata never throws: an unreadable orientation is 1, as
// in Python.

const EXIF_ORIENTATION_TAG = 0x0112;
const TIFF_SHORT = 3;
const TIFF_LONG = 4;
const XMP_JPEG = "http://ns.adobe.com/xap/1.0/\0";
const XMP_PNG = "XML:com.adobe.xmp\0";

/**
 * Read the header fields of an image file.
 *
 * @param {Uint8Array} bytes the whole file
 * @returns {{format: string|null, width: number|null, height: number|null,
 *   orientation: number, truncated: boolean, orientationTag: object|null}} `format` is named as
 *   Pillow names it ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "HEIF", "AVIF"), null when the
 *   bytes are none of these; `width` and `height` (stored order, before orientation) are null when
 *   the header does not give them (HEIF, AVIF, TIFF); `truncated` is true when the file visibly
 *   stops before its end; `orientationTag` locates the EXIF orientation value in the file, for
 *   `withStoredOrientation`.
 */
export function readImageInfo(bytes) {
  const format = sniffFormat(bytes);
  const readers = { JPEG: readJpeg, PNG: readPng, WEBP: readWebp, GIF: readGif, BMP: readBmp };
  let found = {};
  try {
    found = readers[format] ? readers[format](bytes) : {};
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    // A header cut short: the file is refused as damaged.
    found = { truncated: true };
  }
  const exif = found.exif ?? null;
  return {
    format,
    width: found.width ?? null,
    height: found.height ?? null,
    orientation: validOrientation(exif && exif.value !== null ? exif.value : xmpOrientation(found.xmp)),
    truncated: found.truncated ?? false,
    orientationTag: exif && exif.value !== 1 ? exif.field : null,
  };
}

/**
 * A copy of the file whose EXIF orientation tag reads 1, so that a browser decodes the pixels
 * in the order they are stored; the bytes themselves when there is no tag to neutralise. Only
 * the tag's value changes (and the PNG chunk's CRC with it).
 *
 * @param {Uint8Array} bytes the whole file
 * @param {ReturnType<typeof readImageInfo>} info
 * @returns {Uint8Array}
 */
export function withStoredOrientation(bytes, info) {
  const tag = info.orientationTag;
  if (!tag) return bytes;
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  if (tag.size === 2) view.setUint16(tag.at, 1, tag.little);
  else view.setUint32(tag.at, 1, tag.little);
  if (tag.pngChunk) {
    const { start, length } = tag.pngChunk;
    view.setUint32(start + 8 + length, crc32(copy, start + 4, start + 8 + length));
  }
  return copy;
}

// Pillow's rule: the EXIF tag when present (any value), else a tiff:Orientation in XMP metadata;
// rempart then keeps 1-8 and reads anything else as 1.
function validOrientation(value) {
  return Number.isInteger(value) && value >= 1 && value <= 8 ? value : 1;
}

function xmpOrientation(xmp) {
  const match = xmp ? /tiff:Orientation(="|>)([0-9])/.exec(xmp) : null;
  return match ? Number(match[2]) : null;
}

function sniffFormat(b) {
  const starts = (...signature) => signature.every((value, i) => b[i] === value);
  if (starts(0xff, 0xd8, 0xff)) return "JPEG";
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "PNG";
  if (ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a") return "GIF";
  if (ascii(b, 0, 2) === "BM") return "BMP";
  if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 4) === "WEBP") return "WEBP";
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return "TIFF";
  if (ascii(b, 4, 4) === "ftyp") {
    const brands = [ascii(b, 8, 4)];
    const boxSize = b.length >= 4 ? readU32BE(b, 0) : 0;
    for (let at = 16; at + 4 <= Math.min(boxSize, b.length); at += 4) brands.push(ascii(b, at, 4));
    if (brands.includes("avif") || brands.includes("avis")) return "AVIF";
    const heif = ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"];
    if (brands.some((brand) => heif.includes(brand))) return "HEIF";
  }
  return null;
}

// JPEG: walk the marker segments up to the first scan; the size is in the SOFn segment, the
// orientation in the first APP1 "Exif" segment (the one Pillow reads). A file with no end-of-image
// marker after its first scan was cut short (Pillow refuses those as truncated).
function readJpeg(b) {
  const found = { truncated: true };
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) {
      at += 1; // junk between segments: skipped, as Pillow does
      continue;
    }
    const marker = b[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      at += 2;
      continue;
    }
    if (marker === 0xd9) break;
    if (marker === 0xda) {
      found.truncated = !hasEndAfter(b, at + 2);
      break;
    }
    const length = readU16BE(b, at + 2);
    const body = at + 4;
    const end = at + 2 + length;
    if (length < 2 || end > b.length) throw new RangeError("JPEG segment cut short");
    const isSof = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isSof && found.width === undefined) {
      found.height = readU16BE(b, body + 1);
      found.width = readU16BE(b, body + 3);
    }
    if (marker === 0xe1 && !found.exif && ascii(b, body, 6) === "Exif\0\0") {
      found.exif = exifOrientation(b, body + 6, end);
    }
    if (marker === 0xe1 && ascii(b, body, XMP_JPEG.length) === XMP_JPEG) {
      found.xmp = ascii(b, body + XMP_JPEG.length, end - body - XMP_JPEG.length);
    }
    at = end;
  }
  return found;
}

// In entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so the first
// FF D9 after a scan starts is the end-of-image marker; data appended after it is ignored.
function hasEndAfter(b, from) {
  for (let i = b.indexOf(0xff, from); i !== -1 && i + 1 < b.length; i = b.indexOf(0xff, i + 1)) {
    if (b[i + 1] === 0xd9) return true;
  }
  return false;
}

// PNG: IHDR gives the size; an eXIf chunk (before or after the image data) the orientation.
function readPng(b) {
  const found = { width: readU32BE(b, 16), height: readU32BE(b, 20), truncated: true };
  let at = 8;
  while (at + 12 <= b.length) {
    const length = readU32BE(b, at);
    const type = ascii(b, at + 4, 4);
    const data = at + 8;
    if (data + length + 4 > b.length) break;
    if (type === "eXIf" && !found.exif) {
      found.exif = exifOrientation(b, data, data + length);
      if (found.exif.field) found.exif.field.pngChunk = { start: at, length };
    }
    if (type === "iTXt" && ascii(b, data, XMP_PNG.length) === XMP_PNG && b[data + XMP_PNG.length] === 0) {
      // keyword, NUL, compression flag 0 (plain text): the XMP packet follows a few fields later
      found.xmp = ascii(b, data + XMP_PNG.length, length - XMP_PNG.length);
    }
    if (type === "IEND") {
      found.truncated = false;
      break;
    }
    at = data + length + 4;
  }
  return found;
}

// WebP: the canvas size from VP8X, or the frame size from a lone VP8/VP8L chunk; the orientation
// from the EXIF chunk; the RIFF header announces the file's length.
function readWebp(b) {
  const found = { truncated: readU32LE(b, 4) + 8 > b.length };
  let at = 12;
  while (at + 8 <= b.length) {
    const type = ascii(b, at, 4);
    const length = readU32LE(b, at + 4);
    const body = at + 8;
    const end = Math.min(b.length, body + length);
    if (type === "VP8X") {
      found.width = 1 + readU24LE(b, body + 4);
      found.height = 1 + readU24LE(b, body + 7);
    } else if (type === "VP8 " && found.width === undefined) {
      found.width = readU16LE(b, body + 6) & 0x3fff;
      found.height = readU16LE(b, body + 8) & 0x3fff;
    } else if (type === "VP8L" && found.width === undefined) {
      const bits = readU32LE(b, body + 1);
      found.width = 1 + (bits & 0x3fff);
      found.height = 1 + ((bits >>> 14) & 0x3fff);
    } else if (type === "EXIF" && !found.exif) {
      const start = ascii(b, body, 6) === "Exif\0\0" ? body + 6 : body;
      found.exif = exifOrientation(b, start, end);
    } else if (type === "XMP ") {
      found.xmp = ascii(b, body, end - body);
    }
    at = body + length + (length & 1);
  }
  return found;
}

function readGif(b) {
  return { width: readU16LE(b, 6), height: readU16LE(b, 8) };
}

function readBmp(b) {
  if (readU32LE(b, 14) === 12) return { width: readU16LE(b, 18), height: readU16LE(b, 20) };
  return { width: Math.abs(readI32LE(b, 18)), height: Math.abs(readI32LE(b, 22)) };
}

// The orientation tag (0x0112) of IFD0 in the TIFF-structured EXIF block b[start:end].
// value: null when the block has no such tag; the tag's value when it is a single SHORT or LONG;
// 0 (read as 1, hiding any XMP value, as in Pillow) for any other form of the tag; 1 for a block
// that cannot be read (Python treats malformed EXIF as orientation 1). field: where the value
// sits in the file, when there is one to neutralise.
function exifOrientation(b, start, end) {
  const none = { value: 1, field: null };
  const tiff = b.subarray(start, end);
  const order = ascii(tiff, 0, 2);
  if (order !== "II" && order !== "MM") return none;
  const little = order === "II";
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  try {
    if (view.getUint16(2, little) !== 42) return none;
    const ifd = view.getUint32(4, little);
    const entries = view.getUint16(ifd, little);
    for (let i = 0; i < entries; i++) {
      const entry = ifd + 2 + i * 12;
      if (view.getUint16(entry, little) !== EXIF_ORIENTATION_TAG) continue;
      const type = view.getUint16(entry + 2, little);
      const single = view.getUint32(entry + 4, little) === 1;
      const size = type === TIFF_SHORT ? 2 : type === TIFF_LONG ? 4 : 0;
      if (!single || !size) return { value: 0, field: null };
      const value = size === 2 ? view.getUint16(entry + 8, little) : view.getUint32(entry + 8, little);
      return { value, field: { at: start + entry + 8, size, little } };
    }
    return { value: null, field: null };
  } catch (error) {
    if (error instanceof RangeError) return none;
    throw error;
  }
}

let crcTable = null;

function crc32(b, start, end) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = crcTable[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function ascii(b, at, length) {
  let text = "";
  for (let i = at; i < at + length && i < b.length; i++) text += String.fromCharCode(b[i]);
  return text;
}

function check(b, at, size) {
  if (at < 0 || at + size > b.length) throw new RangeError("header cut short");
}

function readU16BE(b, at) {
  check(b, at, 2);
  return (b[at] << 8) | b[at + 1];
}

function readU32BE(b, at) {
  check(b, at, 4);
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

function readU16LE(b, at) {
  check(b, at, 2);
  return b[at] | (b[at + 1] << 8);
}

function readU24LE(b, at) {
  check(b, at, 3);
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16);
}

function readU32LE(b, at) {
  return readI32LE(b, at) >>> 0;
}

function readI32LE(b, at) {
  check(b, at, 4);
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
}
