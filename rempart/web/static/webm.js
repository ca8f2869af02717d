// A Matroska / WebM demuxer for the browser: the first video track's codec, frame size and the
// list of its frames (where each lies in the file, its presentation time, whether it is a key
// frame), so that WebCodecs can decode them.
//
// Frames are timed as FFmpeg's matroska demuxer times them for the Python side: cluster time plus
// the block's relative time, in TimecodeScale units (milliseconds by default). Elements of
// unknown size (live recordings, MediaRecorder) are read. Blocks are walked by their headers
// only; frame data stays in the file.

import { DemuxError } from "./mp4.js";

const ID = {
  EBML: 0x1a45dfa3,
  SEGMENT: 0x18538067,
  INFO: 0x1549a966,
  TIMECODE_SCALE: 0x2ad7b1,
  DURATION: 0x4489,
  TRACKS: 0x1654ae6b,
  TRACK_ENTRY: 0xae,
  TRACK_NUMBER: 0xd7,
  TRACK_TYPE: 0x83,
  CODEC_ID: 0x86,
  CODEC_PRIVATE: 0x63a2,
  DEFAULT_DURATION: 0x23e383,
  CONTENT_ENCODINGS: 0x6d80,
  VIDEO: 0xe0,
  PIXEL_WIDTH: 0xb0,
  PIXEL_HEIGHT: 0xba,
  CLUSTER: 0x1f43b675,
  TIMECODE: 0xe7,
  SIMPLE_BLOCK: 0xa3,
  BLOCK_GROUP: 0xa0,
  BLOCK: 0xa1,
  REFERENCE_BLOCK: 0xfb,
};

// Children of a Segment: one of these ends a Cluster of unknown size.
const SEGMENT_CHILDREN = new Set([
  0x114d9b74, ID.INFO, ID.TRACKS, ID.CLUSTER, 0x1c53bb6b, 0x1043a770, 0x1254c367, 0x1941a469,
]);

// Header elements (Info, Tracks) larger than this are refused; they are a few kilobytes.
const MAX_HEADER_ELEMENT_BYTES = 16 * 1024 * 1024;
const TRACK_TYPE_VIDEO = 1;
// A file may end this much before its declared duration without being called truncated
// (rempart.media.video: containers round durations).
const TRUNCATION_SLACK_S = 1;
const TRUNCATION_SLACK_SHARE = 0.05;
const UNKNOWN = -1;

// Matroska codec ids of video rempart can hand to WebCodecs.
const CODECS = {
  V_VP8: "vp8",
  V_VP9: "vp9",
  V_AV1: "av1",
  "V_MPEG4/ISO/AVC": "h264",
  "V_MPEGH/ISO/HEVC": "hevc",
};

/**
 * Read the first video track of a Matroska or WebM file.
 *
 * @param {{size: number, read: (offset: number, length: number) => Promise<Uint8Array>}} source
 * @param {{maxSamples: number}} limits
 * @returns {Promise<object>} `{codec: {kind, config, codecId}, width, height, rotation: 0,
 *   timescale (ticks per second), duration (seconds or null), samples: [{offset, size, pts, key,
 *   shown}]}` with samples in file order
 * @throws {DemuxError} CorruptMedia, UnsupportedFormat or TooLarge
 */
export async function readMatroska(source, limits) {
  const reader = new ElementReader(source);
  const header = await reader.element(0);
  if (!header || header.id !== ID.EBML) throw new DemuxError("CorruptMedia", "not a Matroska file");
  let offset = header.end;
  let segment = null;
  while (offset < source.size) {
    const element = await reader.element(offset);
    if (!element) break;
    if (element.id === ID.SEGMENT) {
      segment = element;
      break;
    }
    offset = element.end;
  }
  if (!segment) throw new DemuxError("CorruptMedia", "the Matroska file has no segment");
  const state = { timecodeScale: 1_000_000, duration: null, tracks: new Map(), video: null, samples: [], reached: 0 };
  const segmentEnd = segment.size === UNKNOWN ? source.size : Math.min(segment.end, source.size);
  offset = segment.start;
  while (offset < segmentEnd) {
    const element = await reader.element(offset);
    if (!element) break;
    if (element.id === ID.INFO) readInfo(await reader.children(element), state);
    else if (element.id === ID.TRACKS) readTracks(await reader.children(element), state);
    else if (element.id === ID.CLUSTER) {
      offset = await readCluster(reader, element, state, limits, segmentEnd);
      continue;
    }
    if (element.size === UNKNOWN) throw new DemuxError("CorruptMedia", "a Matroska header element has no size");
    offset = element.end;
  }
  if (!state.video) throw new DemuxError("UnsupportedFormat", "the file has no video track (audio only?)");
  if (state.samples.length === 0) throw new DemuxError("CorruptMedia", "the video track has no frames");
  const { video } = state;
  if (state.duration) {
    // As the Python side: a file whose blocks all stop well before its declared end (counting
    // every track: sound may rightly outlast the picture) was cut short.
    const slack = Math.max(TRUNCATION_SLACK_S, state.duration * TRUNCATION_SLACK_SHARE);
    if (state.reached + slack < state.duration) {
      throw new DemuxError(
        "CorruptMedia",
        `the video is truncated: it stops at ${state.reached.toFixed(1)} s of a declared ${state.duration.toFixed(1)} s`,
      );
    }
  }
  return {
    codec: { kind: CODECS[video.codecId] ?? null, config: video.codecPrivate, codecId: video.codecId },
    width: video.width,
    height: video.height,
    rotation: 0,
    timescale: 1e9 / state.timecodeScale,
    duration: state.duration,
    samples: state.samples,
  };
}

function readInfo(children, state) {
  for (const element of children) {
    if (element.id === ID.TIMECODE_SCALE) state.timecodeScale = uint(element.data) || 1_000_000;
    if (element.id === ID.DURATION) state.duration = float(element.data);
  }
  // Duration is in TimecodeScale units.
  if (state.duration !== null) state.duration = (state.duration * state.timecodeScale) / 1e9;
}

function readTracks(children, state) {
  for (const entry of children.filter((element) => element.id === ID.TRACK_ENTRY)) {
    const fields = new Map(parseChildren(entry.data).map((element) => [element.id, element]));
    const number = uint(fields.get(ID.TRACK_NUMBER)?.data);
    const type = uint(fields.get(ID.TRACK_TYPE)?.data);
    const defaultDuration = uint(fields.get(ID.DEFAULT_DURATION)?.data);
    state.tracks.set(number, { defaultDuration });
    if (type !== TRACK_TYPE_VIDEO || state.video) continue;
    if (fields.has(ID.CONTENT_ENCODINGS)) {
      throw new DemuxError(
        "UnsupportedFormat",
        "this Matroska file compresses or encrypts its frames, which the browser cannot read; hash it with the rempart command line",
      );
    }
    const video = new Map(parseChildren(fields.get(ID.VIDEO)?.data ?? new Uint8Array()).map((e) => [e.id, e]));
    state.video = {
      number,
      codecId: text(fields.get(ID.CODEC_ID)?.data),
      codecPrivate: fields.get(ID.CODEC_PRIVATE)?.data ?? null,
      width: uint(video.get(ID.PIXEL_WIDTH)?.data),
      height: uint(video.get(ID.PIXEL_HEIGHT)?.data),
    };
  }
}

// Walk one cluster's blocks; returns the offset after it (for an unknown size, where the next
// Segment-level element starts).
async function readCluster(reader, cluster, state, limits, segmentEnd) {
  const end = cluster.size === UNKNOWN ? segmentEnd : Math.min(cluster.end, segmentEnd);
  let clusterTime = 0;
  let offset = cluster.start;
  while (offset < end) {
    const element = await reader.element(offset);
    if (!element) return end;
    if (cluster.size === UNKNOWN && SEGMENT_CHILDREN.has(element.id)) return offset;
    if (element.size === UNKNOWN) throw new DemuxError("CorruptMedia", "a Matroska block has no size");
    if (element.end > reader.size) {
      throw new DemuxError("CorruptMedia", "the video is truncated: a cluster runs past the end of the file");
    }
    if (element.id === ID.TIMECODE) {
      clusterTime = uint(await reader.bytes(element.start, element.end - element.start));
    } else if (element.id === ID.SIMPLE_BLOCK) {
      await readBlock(reader, element, clusterTime, null, state, limits);
    } else if (element.id === ID.BLOCK_GROUP) {
      // Headers only: the Block's data is read when it is decoded.
      let block = null;
      let referenced = false;
      for (let at = element.start; at < element.end; ) {
        const inner = await reader.element(at);
        if (!inner || inner.size === UNKNOWN || inner.end > element.end) {
          throw new DemuxError("CorruptMedia", "a Matroska block group is damaged");
        }
        if (inner.id === ID.BLOCK) block = inner;
        if (inner.id === ID.REFERENCE_BLOCK) referenced = true;
        at = inner.end;
      }
      if (block) await readBlock(reader, block, clusterTime, !referenced, state, limits);
    }
    offset = element.end;
  }
  return end;
}

async function readBlock(reader, block, clusterTime, key, state, limits) {
  const head = await reader.bytes(block.start, Math.min(12, block.end - block.start));
  const track = vint(head, 0, true);
  if (!track) throw new DemuxError("CorruptMedia", "a Matroska block header is damaged");
  const at = track.length;
  if (at + 3 > head.length) throw new DemuxError("CorruptMedia", "a Matroska block is cut short");
  const relative = (head[at] << 24) >> 16 | head[at + 1];
  const flags = head[at + 2];
  const ticks = clusterTime + relative;
  const duration = state.tracks.get(track.value)?.defaultDuration ?? 0;
  state.reached = Math.max(state.reached, (ticks * state.timecodeScale + duration) / 1e9);
  if (!state.video || track.value !== state.video.number) return;
  if (flags & 0x06) {
    throw new DemuxError(
      "UnsupportedFormat",
      "this Matroska file packs several video frames per block, which the browser cannot read; hash it with the rempart command line",
    );
  }
  if (state.samples.length >= limits.maxSamples) {
    throw new DemuxError("TooLarge", `the video has more than ${limits.maxSamples} frames`);
  }
  const offset = block.start + at + 3;
  state.samples.push({
    offset,
    size: block.end - offset,
    pts: ticks,
    key: key ?? (flags & 0x80) !== 0,
    shown: true,
  });
}

// Reads EBML element headers anywhere in the file through the source's buffered reads.
class ElementReader {
  constructor(source) {
    this.source = source;
    this.size = source.size;
  }

  bytes(offset, length) {
    return this.source.read(offset, length);
  }

  /** The element whose header starts at `offset`: {id, size (-1: unknown), start, end}. */
  async element(offset) {
    if (offset >= this.size) return null;
    const head = await this.source.read(offset, Math.min(12, this.size - offset));
    const id = vint(head, 0, false);
    if (!id) throw new DemuxError("CorruptMedia", "a Matroska element header is damaged");
    const size = vint(head, id.length, true);
    if (!size) throw new DemuxError("CorruptMedia", "a Matroska element size is damaged");
    const start = offset + id.length + size.length;
    const known = size.value !== UNKNOWN;
    return { id: id.value, size: size.value, start, end: known ? start + size.value : Infinity };
  }

  /** The children of a sized header element, read whole. */
  async children(element) {
    if (element.size === UNKNOWN) throw new DemuxError("CorruptMedia", "a Matroska element has no size");
    if (element.size > MAX_HEADER_ELEMENT_BYTES) {
      throw new DemuxError("TooLarge", "a Matroska header element is too large");
    }
    if (element.end > this.size) throw new DemuxError("CorruptMedia", "the Matroska file is cut short (truncated)");
    return parseChildren(await this.bytes(element.start, element.size), element.start);
  }
}

// Elements inside `bytes`; each {id, data, start (file offset of its data), end}.
function parseChildren(bytes, base = 0) {
  const found = [];
  let at = 0;
  while (at < bytes.length) {
    const id = vint(bytes, at, false);
    const size = id && vint(bytes, at + id.length, true);
    if (!id || !size || size.value === UNKNOWN) break;
    const start = at + id.length + size.length;
    const end = start + size.value;
    if (end > bytes.length) throw new DemuxError("CorruptMedia", "a Matroska element runs past its parent");
    found.push({ id: id.value, data: bytes.subarray(start, end), start: base + start, end: base + end });
    at = end;
  }
  return found;
}

// An EBML variable-length integer at `at`: its value (marker bit removed for sizes, kept for ids)
// and length; null when damaged. A size of all ones is UNKNOWN.
function vint(bytes, at, isSize) {
  if (at >= bytes.length) return null;
  const first = bytes[at];
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length++;
  if (length > 8 || at + length > bytes.length) return null;
  let value = isSize ? first & (0xff >> length) : first;
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + bytes[at + i];
    allOnes &&= bytes[at + i] === 0xff;
  }
  if (isSize && allOnes) value = UNKNOWN;
  return { value, length };
}

function uint(data) {
  if (!data) return 0;
  let value = 0;
  for (const byte of data) value = value * 256 + byte;
  return value;
}

function float(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length === 4) return view.getFloat32(0);
  if (data.length === 8) return view.getFloat64(0);
  return null;
}

function text(data) {
  return data ? new TextDecoder().decode(data).replace(/\0+$/, "") : "";
}
