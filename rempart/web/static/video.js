// Fingerprint a video inside the browser: the vPDQ signature `rempart hash` computes, without the
// file leaving the device. Only the signature and the file's MD5/SHA-256 are ever meant to be
// sent.
//
// Mirrors rempart/media/video.py + rempart/signals/video.py: the container is demuxed here
// (mp4.js, webm.js), frames are decoded by the browser's WebCodecs VideoDecoder, and the frame
// sampled for second k is the first frame whose presentation time, counted from the first frame,
// is at or after k seconds. It is converted to luminance with the Python side's exact BT.601
// arithmetic at its own size (yuv.js), turned upright by the display rotation, and hashed with
// pdq.js; a hash equal to the previous kept one is dropped. Runs in a window or a dedicated
// worker. See docs/web.md, "Videos".

import { Md5 } from "./md5.js";
import { DemuxError, readMp4 } from "./mp4.js";
import { pdqFromLuma } from "./pdq.js";
import { Sha256 } from "./sha256.js";
import { readMatroska } from "./webm.js";
import { lumaOfYuv, rotateLuma } from "./yuv.js";

/**
 * What the page accepts. `maxBytes` and `maxPixels` are the Python VideoLimits defaults;
 * `maxDurationS` is shorter than the command line's 3 hours because a browser hashes at a few
 * times real time, so an hour of video already takes many minutes (longer videos: the command
 * line). `maxSamples` bounds the frames read (as VideoLimits.max_frames).
 */
export const VIDEO_LIMITS = Object.freeze({
  maxBytes: 2 * 1024 ** 3,
  maxDurationS: 3600,
  maxPixels: 8192 * 4352,
  maxSamples: 1_000_000,
  minSide: 5,
});

/** vPDQ's default: one frame a second (rempart.signals.video.DEFAULT_FRAME_INTERVAL_S). */
export const FRAME_INTERVAL_S = 1;

/** At most this many frames in a signature (rempart.signals.video.MAX_FRAMES). */
export const MAX_SIGNATURE_FRAMES = 20_000;

// The file is read (for MD5 and SHA-256, and frame data) this many bytes at a time.
const READ_CHUNK = 8 * 1024 * 1024;
// Chunks waiting in the decoder before feeding pauses; bounds the memory held by the decoder.
const DECODE_QUEUE = 8;
// Sampled frames waiting to be hashed before feeding pauses.
const HASH_QUEUE = 2;

const CLI_HINT = "hash it with the rempart command line instead (rempart case create FILE)";

// Python's container labels (rempart.media.video.sniff_video_format) for what browsers can
// demux here; AVI is recognised so that it can be sent to the command line.
const FILE_SUFFIXES = /\.(mp4|m4v|mov|qt|3gp|3g2|mkv|webm|avi)$/i;

// Names for people, and the FFmpeg decoder the Python side names in its records' `codec`.
const CODEC_NAMES = {
  h264: "H.264 video",
  hevc: "HEVC (H.265) video, which iPhones record by default",
  vp8: "VP8 video",
  vp9: "VP9 video",
  av1: "AV1 video",
};
const FFMPEG_DECODERS = { h264: "h264", hevc: "hevc", vp8: "vp8", vp9: "vp9", av1: "libdav1d" };

// The thumbnail a page shows (made on the device from the first sampled frame, never sent).
const THUMBNAIL_SIDE = 160;

/**
 * Why a video could not be hashed. `type` is the name of the matching Python error
 * (rempart.errors): "UnsupportedFormat", "CorruptMedia", "TooLarge" or "TooSmall".
 */
export class VideoHashError extends Error {
  constructor(type, message) {
    super(message);
    this.name = "VideoHashError";
    this.type = type;
  }
}

/** True for a file the page should treat as a video (by its MIME type or its name). */
export function looksLikeVideo(file) {
  return (file.type ?? "").startsWith("video/") || FILE_SUFFIXES.test(file.name ?? "");
}

/**
 * The container of a file from its first bytes, as rempart.media.video.sniff_video_format names
 * it ("mp4", "mov", "3gp", "matroska", "webm", "avi"), or null.
 */
export function sniffVideo(head) {
  const tag = (from, to) => String.fromCharCode(...head.subarray(from, to));
  if (tag(4, 8) === "ftyp") {
    const brand = tag(8, 12);
    if (brand === "qt  ") return "mov";
    if (brand.startsWith("3g")) return "3gp";
    return "mp4";
  }
  if (["moov", "mdat", "wide", "free", "skip"].includes(tag(4, 8))) return "mov";
  if (head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return tag(0, 64).includes("webm") ? "webm" : "matroska";
  }
  if (tag(0, 4) === "RIFF" && tag(8, 12) === "AVI ") return "avi";
  return null;
}

/**
 * Hash one video file.
 *
 * @param {File|Blob} file the video
 * @param {{limits?: Partial<typeof VIDEO_LIMITS>, onProgress?: (fraction: number) => void}} [options]
 * @returns {Promise<object>} the `rempart hash` record of a video: path (the file's name, for
 *   display only: never send it), md5, sha256, width and height (the stored frame size), format
 *   (container), codec (FFmpeg's decoder name), duration (seconds), vpdq (the frames:
 *   `[{value, quality, timestamp}]`) and thumbnail (a small JPEG Blob of the first sampled frame,
 *   for display only: never send it)
 * @throws {VideoHashError} the file is not a video this browser can decode, or is over the limits
 */
export async function hashVideoFile(file, options = {}) {
  const limit = { ...VIDEO_LIMITS, ...options.limits };
  const progress = progressReporter(options.onProgress);
  if (file.size === 0) throw new VideoHashError("UnsupportedFormat", "the file is empty");
  if (file.size > limit.maxBytes) {
    throw new VideoHashError("TooLarge", `${file.size} bytes is over the ${limit.maxBytes}-byte limit`);
  }
  const source = new FileSource(file);
  const container = sniffVideo(await source.read(0, Math.min(64, file.size)));
  if (container === null) {
    throw new VideoHashError("UnsupportedFormat", "not a video in a format the browser reads (MP4, MOV, 3GP, MKV, WebM)");
  }
  if (container === "avi") {
    throw new VideoHashError("UnsupportedFormat", `AVI videos cannot be read in the browser; ${CLI_HINT}`);
  }
  const movie = await demux(source, container, limit);
  const config = await decoderConfig(movie);
  const digests = await digestFile(file, (share) => progress(share * 0.1));
  const frames = await sampleFrames(source, movie, config, limit, (share) => progress(0.1 + share * 0.9));
  const duration = movie.duration ?? frames.kept.at(-1).timestamp;
  return {
    path: file.name ?? "",
    md5: digests.md5,
    sha256: digests.sha256,
    width: movie.width,
    height: movie.height,
    format: container,
    codec: FFMPEG_DECODERS[movie.codec.kind],
    duration: pyRound(duration, 3),
    vpdq: frames.kept,
    thumbnail: frames.thumbnail,
  };
}

/**
 * The signals a case stores for a hashed video, in the wire form of the API (as Python's
 * VideoSignals.signals() and to_json()): the vPDQ signature, then MD5 and SHA-256.
 *
 * @param {object} record a record from hashVideoFile
 */
export function signalsOfVideoRecord(record) {
  return [
    { type: "vpdq", frames: record.vpdq },
    { type: "md5", value: record.md5 },
    { type: "sha256", value: record.sha256 },
  ];
}

async function demux(source, container, limit) {
  let movie;
  try {
    movie = container === "webm" || container === "matroska"
      ? await readMatroska(source, limit)
      : await readMp4(source, limit);
  } catch (error) {
    if (error instanceof DemuxError) throw new VideoHashError(error.type, error.message);
    throw error;
  }
  const { width, height } = movie;
  if (width * height > limit.maxPixels) {
    throw new VideoHashError("TooLarge", `${width}x${height} frames are over the ${limit.maxPixels}-pixel limit per frame`);
  }
  if (Math.min(width, height) < limit.minSide) {
    throw new VideoHashError(
      "TooSmall",
      `${width}x${height} frames are too small to fingerprint (each side needs at least ${limit.minSide} pixels)`,
    );
  }
  if (movie.duration !== null && movie.duration > limit.maxDurationS) {
    throw new VideoHashError(
      "TooLarge",
      `the video lasts ${Math.round(movie.duration)} s, over the ${limit.maxDurationS} s this page accepts; ${CLI_HINT}`,
    );
  }
  return movie;
}

// The WebCodecs configuration for the track, after checking that this browser decodes it.
async function decoderConfig(movie) {
  const { kind, config } = movie.codec;
  if (!kind) {
    const named = movie.codec.codecId ?? movie.codec.fourcc ?? "unknown";
    throw new VideoHashError("UnsupportedFormat", `video codec ${JSON.stringify(named)} cannot be decoded in the browser; ${CLI_HINT}`);
  }
  if (typeof VideoDecoder === "undefined") {
    throw new VideoHashError(
      "UnsupportedFormat",
      `this browser cannot decode videos (it lacks WebCodecs, or the page is not served over https); ${CLI_HINT}`,
    );
  }
  const decoder = { codec: codecString(movie), codedWidth: movie.width, codedHeight: movie.height };
  const description = descriptionOf(movie);
  if (description) decoder.description = description;
  let supported = false;
  try {
    supported = (await VideoDecoder.isConfigSupported(decoder)).supported;
  } catch {
    supported = false;
  }
  if (!supported) {
    throw new VideoHashError("UnsupportedFormat", `this browser cannot decode ${CODEC_NAMES[kind]}; ${CLI_HINT}`);
  }
  if (!config && (kind === "h264" || kind === "hevc")) {
    throw new VideoHashError("CorruptMedia", "the video track lacks its decoder configuration");
  }
  return decoder;
}

function descriptionOf(movie) {
  const { kind, config, fourcc } = movie.codec;
  if (fourcc) {
    const box = { h264: "avcC", hevc: "hvcC", av1: "av1C" }[kind];
    return box ? config[box] ?? null : null;
  }
  return kind === "h264" || kind === "hevc" || kind === "av1" ? config : null;
}

// The codec string WebCodecs names a stream by (RFC 6381 and the VP9/AV1 ISO-BMFF bindings).
function codecString(movie) {
  const { kind } = movie.codec;
  const hex = (value) => value.toString(16).padStart(2, "0");
  const record = descriptionOf(movie);
  if (kind === "h264") {
    if (!record || record.length < 4) return "avc1.42e01e";
    return `avc1.${hex(record[1])}${hex(record[2])}${hex(record[3])}`;
  }
  if (kind === "hevc") {
    if (!record || record.length < 13) return "hvc1.1.6.L93.B0";
    const space = ["", "A", "B", "C"][record[1] >> 6];
    const tier = record[1] & 0x20 ? "H" : "L";
    const profile = record[1] & 0x1f;
    let compatibility = 0;
    const flags = (record[2] << 24) | (record[3] << 16) | (record[4] << 8) | record[5];
    for (let bit = 0; bit < 32; bit++) if (flags & (1 << bit)) compatibility |= 1 << (31 - bit);
    const constraints = Array.from(record.subarray(6, 12));
    while (constraints.length && constraints.at(-1) === 0) constraints.pop();
    const tail = constraints.map((byte) => `.${byte.toString(16).toUpperCase()}`).join("");
    const prefix = movie.codec.fourcc === "hev1" ? "hev1" : "hvc1";
    return `${prefix}.${space}${profile}.${(compatibility >>> 0).toString(16).toUpperCase()}.${tier}${record[12]}${tail}`;
  }
  if (kind === "vp9") {
    const vpcC = movie.codec.fourcc ? movie.codec.config.vpcC : null;
    const profile = vpcC && vpcC.length >= 7 ? vpcC[4] : 0;
    const depth = vpcC && vpcC.length >= 7 ? vpcC[6] >> 4 : 8;
    return `vp09.${hex(profile)}.10.${String(depth).padStart(2, "0")}`;
  }
  if (kind === "av1") {
    if (!record || record.length < 4) return "av01.0.04M.08";
    const profile = record[1] >> 5;
    const level = record[1] & 0x1f;
    const tier = record[2] & 0x80 ? "H" : "M";
    const depth = record[2] & 0x40 ? (record[2] & 0x20 ? 12 : 10) : 8;
    return `av01.${profile}.${String(level).padStart(2, "0")}${tier}.${String(depth).padStart(2, "0")}`;
  }
  return kind;
}

// MD5 and SHA-256 of the whole file, read a chunk at a time.
async function digestFile(file, onShare) {
  const md5 = new Md5();
  const sha256 = new Sha256();
  for (let offset = 0; offset < file.size; offset += READ_CHUNK) {
    const chunk = new Uint8Array(await file.slice(offset, offset + READ_CHUNK).arrayBuffer());
    md5.update(chunk);
    sha256.update(chunk);
    onShare(Math.min(1, (offset + chunk.length) / file.size));
  }
  return { md5: md5.hex(), sha256: sha256.hex() };
}

// Decode every frame and hash the sampled ones, in presentation order as the decoder emits them.
async function sampleFrames(source, movie, config, limit, onShare) {
  const samples = movie.samples;
  // Timestamps (microseconds) identify each decoded frame's sample: its exact time and whether
  // it is shown (frames before an edit list's start are decoded as references only).
  const byMicros = new Map();
  const tick = movie.timescale > 0 ? 1 / movie.timescale : 0;
  const quarterTurns = pyRound(movie.rotation / 90, 0);
  const kept = [];
  let start = null;
  let nextTarget = 0;
  let failure = null;
  let pending = 0;
  let hashing = Promise.resolve();
  let thumbnail = null;
  let thumbnailTaken = false;

  // Feeding pauses while the decoder or the hashing is behind; `nudge` resumes it.
  let wake = null;
  const nudge = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const fail = (error) => {
    failure ??= error;
    nudge();
  };
  const output = (frame) => {
    const sample = byMicros.get(frame.timestamp);
    if (failure || !sample || !sample.shown) {
      frame.close();
      return;
    }
    // The Python side's arithmetic: the stream's time base as a double, times the integer time.
    const moment = sample.pts * tick;
    start ??= moment;
    const timestamp = moment - start;
    if (timestamp > limit.maxDurationS) {
      frame.close();
      fail(new VideoHashError("TooLarge", `the video runs past the ${limit.maxDurationS} s this page accepts; ${CLI_HINT}`));
      return;
    }
    if (timestamp < nextTarget) {
      frame.close();
      return;
    }
    nextTarget = (Math.floor(timestamp / FRAME_INTERVAL_S) + 1) * FRAME_INTERVAL_S;
    pending++;
    const first = !thumbnailTaken;
    thumbnailTaken = true;
    hashing = hashing
      .then(async () => {
        if (first) thumbnail = await thumbnailOf(frame, quarterTurns);
        return hashFrame(frame, quarterTurns);
      })
      .then((pdq) => keep(kept, pdq, pyRound(pyRound(timestamp, 6), 3)))
      .catch(fail)
      .finally(() => {
        frame.close();
        pending--;
        nudge();
      });
  };
  const decoder = new VideoDecoder({ output, error: (error) => fail(decodeError(error)) });
  decoder.addEventListener("dequeue", nudge);
  decoder.configure(config);
  try {
    for (let i = 0; i < samples.length && !failure; i++) {
      const sample = samples[i];
      const micros = Math.round(sample.pts * tick * 1e6);
      if (!byMicros.has(micros)) byMicros.set(micros, sample);
      // EncodedVideoChunk copies the bytes: the window may move on.
      const data = await source.read(sample.offset, sample.size);
      try {
        decoder.decode(
          new EncodedVideoChunk({ type: i === 0 || sample.key ? "key" : "delta", timestamp: micros, data }),
        );
      } catch (error) {
        // A first frame that is not a key frame, or a decoder closed by an earlier error.
        fail(decodeError(error));
        break;
      }
      while (!failure && (decoder.decodeQueueSize > DECODE_QUEUE || pending > HASH_QUEUE)) {
        await new Promise((resolve) => {
          wake = resolve;
        });
      }
      if (i % 64 === 0) onShare(i / samples.length);
    }
    if (!failure) await decoder.flush().catch((error) => fail(decodeError(error)));
    await hashing;
  } finally {
    if (decoder.state !== "closed") decoder.close();
  }
  if (failure) throw failure;
  if (kept.length === 0) throw new VideoHashError("CorruptMedia", "no frame of the video could be decoded");
  onShare(1);
  return { kept, thumbnail };
}

function decodeError(error) {
  if (error instanceof VideoHashError) return error;
  return new VideoHashError("CorruptMedia", `the video cannot be decoded: ${error.message}`);
}

// PDQ of one decoded frame at its own size, upright.
async function hashFrame(frame, quarterTurns) {
  const format = frame.format;
  if (!["I420", "I420A", "I422", "I444", "NV12"].includes(format)) {
    throw new VideoHashError(
      "UnsupportedFormat",
      `the browser decodes this video to ${format ?? "an opaque"} pixels, which rempart cannot read here (high bit depth or HDR?); ${CLI_HINT}`,
    );
  }
  const rect = frame.visibleRect;
  const buffer = new Uint8Array(frame.allocationSize({ rect }));
  const layout = await frame.copyTo(buffer, { rect });
  const { width, height } = rect;
  const luma = lumaOfYuv(buffer, layout, { format, width, height, fullRange: frame.colorSpace?.fullRange === true });
  const upright = rotateLuma(luma, width, height, quarterTurns);
  return pdqFromLuma(upright.luma, upright.width, upright.height);
}

// A small upright JPEG of a frame, for the page to show in place of the video (a video cannot
// be shown as an image, and the page's policy lets no media element play a local file).
async function thumbnailOf(frame, quarterTurns) {
  const turned = quarterTurns % 2 !== 0;
  const { width, height } = frame.visibleRect;
  const scale = THUMBNAIL_SIDE / Math.max(width, height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(turned ? h : w, turned ? w : h);
  const context = canvas.getContext("2d");
  context.translate(canvas.width / 2, canvas.height / 2);
  // A counter-clockwise turn is a negative angle on a canvas, whose y axis points down.
  context.rotate((-quarterTurns * Math.PI) / 2);
  context.drawImage(frame, -w / 2, -h / 2, w, h);
  return canvas.convertToBlob({ type: "image/jpeg", quality: 0.8 });
}

// Keep a frame unless its hash equals the previous kept one's (a still scene, a slide).
function keep(kept, pdq, timestamp) {
  if (kept.length > 0 && kept.at(-1).value === pdq.hash) return;
  if (kept.length >= MAX_SIGNATURE_FRAMES) {
    throw new VideoHashError("TooLarge", `over ${MAX_SIGNATURE_FRAMES} sampled frames: the video is too long`);
  }
  kept.push({ value: pdq.hash, quality: pdq.quality, timestamp });
}

function progressReporter(onProgress) {
  let last = -1;
  return (fraction) => {
    const percent = Math.floor(fraction * 100);
    if (onProgress && percent !== last) {
      last = percent;
      onProgress(percent / 100);
    }
  };
}

/**
 * Python's round(x, digits): the decimal nearest to the double's exact value, ties to even,
 * back as the nearest double (JavaScript's toFixed rounds ties away from zero).
 */
export function pyRound(x, digits) {
  const [whole, fraction] = Math.abs(x).toFixed(100).split(".");
  const kept = whole + fraction.slice(0, digits);
  const rest = fraction.slice(digits);
  const odd = Number(kept.at(-1)) % 2 === 1;
  const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || odd));
  const value = Number(BigInt(kept) + (up ? 1n : 0n)) / 10 ** digits;
  return x < 0 ? -value : value;
}

// The file as byte ranges, read through a window so that headers and neighbouring reads cost
// one slice of the file each.
class FileSource {
  constructor(file) {
    this.file = file;
    this.size = file.size;
    this.windowStart = 0;
    this.window = new Uint8Array(0);
  }

  async read(offset, length) {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.windowStart && end <= this.windowStart + this.window.length) {
      return this.window.subarray(offset - this.windowStart, end - this.windowStart);
    }
    const windowEnd = Math.min(this.size, Math.max(end, offset + READ_CHUNK));
    this.window = new Uint8Array(await this.file.slice(offset, windowEnd).arrayBuffer());
    this.windowStart = offset;
    return this.window.subarray(0, end - offset);
  }
}
