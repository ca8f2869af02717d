// MD5 of bytes (RFC 1321), because WebCrypto does not offer it and partner hash lists still
// carry MD5. Only for matching byte-identical copies; SHA-256 (WebCrypto) is the one to trust.

// Per-round left rotations and the sine-derived constants floor(abs(sin(i + 1)) * 2^32).
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const SINES = Uint32Array.from({ length: 64 }, (_, i) =>
  Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32),
);

/**
 * MD5 digest as 32 lowercase hex digits.
 *
 * @param {ArrayBuffer|ArrayBufferView} input the bytes (a file's whole content)
 * @returns {string}
 */
export function md5Hex(input) {
  return new Md5().update(input).hex();
}

/**
 * Incremental MD5, for files read in chunks (a video is never held whole): `update` any number of
 * times, then `hex` once.
 */
export class Md5 {
  constructor() {
    this.state = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this.block = new Uint32Array(16);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.length = 0;
  }

  /** Add bytes; returns this. */
  update(input) {
    let bytes = toBytes(input);
    this.length += bytes.byteLength;
    if (this.pendingLength > 0) {
      const taken = Math.min(64 - this.pendingLength, bytes.byteLength);
      this.pending.set(bytes.subarray(0, taken), this.pendingLength);
      this.pendingLength += taken;
      bytes = bytes.subarray(taken);
      if (this.pendingLength < 64) return this;
      this.compressBlocks(this.pending);
      this.pendingLength = 0;
    }
    const whole = bytes.byteLength - (bytes.byteLength % 64);
    this.compressBlocks(bytes.subarray(0, whole));
    this.pending.set(bytes.subarray(whole));
    this.pendingLength = bytes.byteLength - whole;
    return this;
  }

  /** The digest of everything added, as 32 lowercase hex digits. */
  hex() {
    // Padding: 0x80, zeros to 56 mod 64, then the message length in bits, little-endian 64-bit.
    const tail = new Uint8Array(this.pendingLength < 56 ? 64 : 128);
    tail.set(this.pending.subarray(0, this.pendingLength));
    tail[this.pendingLength] = 0x80;
    const tailView = new DataView(tail.buffer);
    const bitLength = this.length * 8;
    tailView.setUint32(tail.length - 8, bitLength >>> 0, true);
    tailView.setUint32(tail.length - 4, Math.floor(bitLength / 2 ** 32), true);
    this.compressBlocks(tail);
    let hex = "";
    const out = new DataView(this.state.buffer);
    for (let i = 0; i < 16; i++) hex += out.getUint8(i).toString(16).padStart(2, "0");
    return hex;
  }

  compressBlocks(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let offset = 0; offset < bytes.byteLength; offset += 64) {
      for (let i = 0; i < 16; i++) this.block[i] = view.getUint32(offset + i * 4, true);
      compress(this.state, this.block);
    }
  }
}

function toBytes(input) {
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  }
  throw new TypeError("md5Hex takes an ArrayBuffer or a typed array");
}

function compress(state, block) {
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  for (let i = 0; i < 64; i++) {
    let f;
    let g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const sum = (a + f + SINES[i] + block[g]) | 0;
    const shift = SHIFTS[(i >> 4) * 4 + (i & 3)];
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}
