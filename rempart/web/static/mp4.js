// An MP4 / MOV / 3GP (ISO base media file) demuxer for the browser: the first video track's
// codec configuration, display rotation and the list of its samples (where each one lies in the
// file, its presentation time, whether it is a key frame), so that WebCodecs can decode them.
//
// It times samples as FFmpeg's mov demuxer does for the Python side (rempart/media/video.py):
// decode times from `stts`, presentation offsets from `ctts`, and an edit list of one media
// segment (optionally after an empty edit) applied as FFmpeg applies it: frames before the
// segment's start are decoded but not shown, frames after its end are dropped, and times are
// shifted so the segment starts at the empty edit's length. Fragmented files (`moof`) are read
// too. Only box headers and the `moov`/`moof` boxes are read; sample data stays in the file.

/** Thrown for a file this demuxer cannot read; `type` names the Python error (rempart.errors). */
export class DemuxError extends Error {
  constructor(type, message) {
    super(message);
    this.name = "DemuxError";
    this.type = type;
  }
}

// A `moov` or `moof` larger than this is refused: a sample table of a million frames is ~20 MB.
const MAX_INDEX_BOX_BYTES = 64 * 1024 * 1024;
// Top-level boxes walked before giving up finding `moov` (fragmented files have one per fragment).
const MAX_TOP_LEVEL_BOXES = 1_000_000;

// Sample entry codes of video WebCodecs may decode -> FFmpeg's decoder name.
const FOURCC_KINDS = { avc1: "h264", avc3: "h264", hvc1: "hevc", hev1: "hevc", vp08: "vp8", vp09: "vp9", av01: "av1" };

const CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "edts", "mvex", "moof", "traf"]);

/**
 * Read the first video track of an ISO BMFF file.
 *
 * @param {{size: number, read: (offset: number, length: number) => Promise<Uint8Array>}} source
 * @param {{maxSamples: number}} limits
 * @returns {Promise<object>} `{codec: {kind, fourcc, config, width, height}, width, height, rotation, timescale,
 *   duration (seconds or null), samples: [{offset, size, pts, key, shown}]}` with samples in
 *   decode order; `pts` in `timescale` units, edit list applied; `shown` false for samples
 *   before the edit list's start (decoded as references, not displayed); `end` the decode time
 *   at which the sample's duration ends
 * @throws {DemuxError} CorruptMedia (damaged, truncated), UnsupportedFormat (no video track),
 *   TooLarge (an index or sample count over the limits)
 */
export async function readMp4(source, limits) {
  const top = await topLevelBoxes(source);
  const moov = top.find((box) => box.type === "moov");
  if (!moov) throw new DemuxError("CorruptMedia", "the MP4 file is truncated or damaged: it has no index (moov box)");
  const movie = parseBoxes(await readBox(source, moov), 0);
  const mvhd = readMvhd(child(movie, "mvhd"));
  const traks = movie.filter((box) => box.type === "trak").map((trak) => readTrak(trak));
  const track = traks.find((t) => t.handler === "vide");
  if (!track) throw new DemuxError("UnsupportedFormat", "the file has no video track (audio only?)");
  if (!track.entry) throw new DemuxError("CorruptMedia", "the video track has no sample description");
  const samples = tableSamples(track, limits);
  const trex = child(movie, "mvex")?.children.filter((box) => box.type === "trex").map(readTrex) ?? [];
  for (const box of top.filter((b) => b.type === "moof")) {
    const fragment = parseBoxes(await readBox(source, box), box.offset);
    for (const sample of fragmentSamples(fragment, box.offset, track, trex, limits.maxSamples - samples.length)) {
      samples.push(sample);
    }
  }
  if (samples.length === 0) throw new DemuxError("CorruptMedia", "the video track has no frames");
  for (const sample of samples) {
    if (sample.offset + sample.size > source.size) {
      throw new DemuxError("CorruptMedia", "the video is truncated: its frames run past the end of the file");
    }
  }
  const edited = applyEdits(samples, track.edits, mvhd.timescale, track.timescale);
  // FFmpeg declares the sum of the frame durations (not mdhd's duration, which may count an
  // encoder delay).
  const declared = samples.reduce((latest, sample) => Math.max(latest, sample.end), 0);
  return {
    codec: track.entry,
    width: track.entry.width,
    height: track.entry.height,
    rotation: displayRotation(multiply(track.matrix, mvhd.matrix)),
    timescale: track.timescale,
    duration: declared ? declared / track.timescale : null,
    samples: edited,
  };
}

// The top-level boxes: type, offset and size, from their headers only.
async function topLevelBoxes(source) {
  const boxes = [];
  let offset = 0;
  while (offset + 8 <= source.size) {
    if (boxes.length >= MAX_TOP_LEVEL_BOXES) throw new DemuxError("TooLarge", "the MP4 file has too many boxes");
    const head = await source.read(offset, Math.min(16, source.size - offset));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    let size = view.getUint32(0);
    const type = fourcc(head, 4);
    let header = 8;
    if (size === 1) {
      if (head.length < 16) break;
      size = Number(view.getBigUint64(8));
      header = 16;
    } else if (size === 0) {
      size = source.size - offset;
    }
    if (size < header) throw new DemuxError("CorruptMedia", `MP4 box ${JSON.stringify(type)} has an impossible size`);
    boxes.push({ type, offset, size, header });
    offset += size;
  }
  return boxes;
}

async function readBox(source, box) {
  if (box.size > MAX_INDEX_BOX_BYTES) {
    throw new DemuxError("TooLarge", `the MP4 ${box.type} box is over ${MAX_INDEX_BOX_BYTES} bytes`);
  }
  if (box.offset + box.size > source.size) {
    throw new DemuxError("CorruptMedia", `the MP4 ${box.type} box is cut short (truncated file)`);
  }
  return (await source.read(box.offset, box.size)).subarray(box.header);
}

// Boxes inside `bytes` (a container's payload): {type, data, children?, offset (in the file)}.
function parseBoxes(bytes, base) {
  const boxes = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    let size = view.getUint32(offset);
    const type = fourcc(bytes, offset + 4);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > bytes.length) break;
      size = Number(view.getBigUint64(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = bytes.length - offset;
    }
    if (size < header || offset + size > bytes.length) {
      throw new DemuxError("CorruptMedia", `MP4 box ${JSON.stringify(type)} runs past its parent`);
    }
    const data = bytes.subarray(offset + header, offset + size);
    const box = { type, data, offset: base + offset };
    if (CONTAINERS.has(type)) box.children = parseBoxes(data, base + offset + header);
    boxes.push(box);
    offset += size;
  }
  return boxes;
}

function child(boxes, type) {
  return boxes?.find((box) => box.type === type);
}

function fourcc(bytes, at) {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

// A reader over a full box's payload that throws CorruptMedia when it runs out.
function reader(box) {
  if (!box) throw new DemuxError("CorruptMedia", "the MP4 index lacks a required box");
  const { data } = box;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const need = (n) => {
    if (at + n > data.length) throw new DemuxError("CorruptMedia", `MP4 ${box.type} box is cut short`);
    const here = at;
    at += n;
    return here;
  };
  return {
    u8: () => view.getUint8(need(1)),
    u16: () => view.getUint16(need(2)),
    u32: () => view.getUint32(need(4)),
    i32: () => view.getInt32(need(4)),
    u64: () => Number(view.getBigUint64(need(8))),
    skip: (n) => need(n),
    rest: () => data.subarray(at),
    get left() {
      return data.length - at;
    },
  };
}

function readMvhd(box) {
  const r = reader(box);
  const version = r.u8();
  r.skip(3);
  r.skip(version === 1 ? 16 : 8);
  const timescale = r.u32();
  r.skip(version === 1 ? 8 : 4);
  r.skip(4 + 2 + 10);
  return { timescale: timescale || 1, matrix: readMatrix(r) };
}

function readMatrix(r) {
  return Array.from({ length: 9 }, () => r.i32());
}

function readTrak(trak) {
  const tkhd = reader(child(trak.children, "tkhd"));
  const version = tkhd.u8();
  tkhd.skip(3);
  tkhd.skip(version === 1 ? 16 : 8);
  const trackId = tkhd.u32();
  tkhd.skip(4);
  tkhd.skip(version === 1 ? 8 : 4);
  tkhd.skip(8 + 2 + 2 + 2 + 2);
  const matrix = readMatrix(tkhd);
  const mdia = child(trak.children, "mdia")?.children;
  const mdhd = reader(child(mdia, "mdhd"));
  const mdhdVersion = mdhd.u8();
  mdhd.skip(3);
  mdhd.skip(mdhdVersion === 1 ? 16 : 8);
  const timescale = mdhd.u32();
  const hdlr = reader(child(mdia, "hdlr"));
  hdlr.skip(8);
  const handler = fourcc(hdlr.rest(), 0);
  const stbl = child(child(mdia, "minf")?.children, "stbl")?.children ?? [];
  if (!timescale) throw new DemuxError("CorruptMedia", "the video track declares no time scale");
  return {
    trackId,
    matrix,
    timescale,
    handler,
    stbl,
    entry: handler === "vide" ? readSampleEntry(child(stbl, "stsd")) : null,
    edits: readEdits(child(child(trak.children, "edts")?.children, "elst")),
  };
}

// The first sample description: its four-character code, frame size and codec configuration
// box (avcC, hvcC, vpcC, av1C), which WebCodecs needs as `description` or to name the codec.
function readSampleEntry(stsd) {
  if (!stsd) return null;
  const r = reader(stsd);
  r.skip(4);
  if (r.u32() < 1) return null;
  const size = r.u32();
  const type = fourcc(r.rest(), 0);
  r.skip(4);
  if (size < 86 || r.left < size - 8) throw new DemuxError("CorruptMedia", "the video sample description is cut short");
  const entry = r.rest().subarray(0, size - 8);
  const view = new DataView(entry.buffer, entry.byteOffset, entry.byteLength);
  const width = view.getUint16(24);
  const height = view.getUint16(26);
  const config = {};
  for (const box of parseBoxes(entry.subarray(78), 0)) config[box.type] = box.data;
  return { kind: FOURCC_KINDS[type] ?? null, fourcc: type, width, height, config };
}

function readEdits(elst) {
  if (!elst) return [];
  const r = reader(elst);
  const version = r.u8();
  r.skip(3);
  const count = r.u32();
  const edits = [];
  for (let i = 0; i < count && r.left > 0; i++) {
    const duration = version === 1 ? r.u64() : r.u32();
    const mediaTime = version === 1 ? Number(r.i32()) * 2 ** 32 + r.u32() : r.i32();
    r.skip(4);
    edits.push({ duration, mediaTime });
  }
  return edits;
}

function tooManySamples(limits) {
  throw new DemuxError("TooLarge", `the video has more than ${limits.maxSamples} frames`);
}

// Samples of the sample table (a non-fragmented file, or the part before the first fragment).
function tableSamples(track, limits) {
  const { stbl } = track;
  const sizes = sampleSizes(stbl, limits);
  if (sizes.length === 0) return [];
  const count = sizes.length;
  const offsets = sampleOffsets(stbl, sizes);
  const deltas = runs(child(stbl, "stts"), count, false);
  const composition = child(stbl, "ctts") ? runs(child(stbl, "ctts"), count, true) : null;
  const syncBox = child(stbl, "stss");
  let sync = null;
  if (syncBox) {
    sync = new Set();
    const r = reader(syncBox);
    r.skip(4);
    const entries = r.u32();
    for (let i = 0; i < entries && r.left >= 4; i++) sync.add(r.u32() - 1);
  }
  const samples = new Array(count);
  let dts = 0;
  for (let i = 0; i < count; i++) {
    samples[i] = {
      offset: offsets[i],
      size: sizes[i],
      pts: dts + (composition ? composition[i] : 0),
      key: sync ? sync.has(i) : true,
      end: dts + deltas[i],
    };
    dts += deltas[i];
  }
  return samples;
}

function sampleSizes(stbl, limits) {
  const stsz = child(stbl, "stsz");
  if (stsz) {
    const r = reader(stsz);
    r.skip(4);
    const fixed = r.u32();
    const count = r.u32();
    if (count > limits.maxSamples) tooManySamples(limits);
    if (fixed) return new Array(count).fill(fixed);
    if (r.left < count * 4) throw new DemuxError("CorruptMedia", "the MP4 sample size table is cut short");
    return Array.from({ length: count }, () => r.u32());
  }
  const stz2 = child(stbl, "stz2");
  if (!stz2) return [];
  const r = reader(stz2);
  r.skip(7);
  const bits = r.u8();
  const count = r.u32();
  if (count > limits.maxSamples) tooManySamples(limits);
  if (![4, 8, 16].includes(bits)) throw new DemuxError("CorruptMedia", "the MP4 compact size table is malformed");
  if (r.left < Math.ceil((count * bits) / 8)) throw new DemuxError("CorruptMedia", "the MP4 sample size table is cut short");
  const packed = r.rest();
  return Array.from({ length: count }, (_, i) => {
    if (bits === 16) return (packed[2 * i] << 8) | packed[2 * i + 1];
    if (bits === 8) return packed[i];
    return i % 2 === 0 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15;
  });
}

// File offset of every sample, from the chunk offsets and the sample-to-chunk runs.
function sampleOffsets(stbl, sizes) {
  const count = sizes.length;
  const chunkBox = child(stbl, "stco") ?? child(stbl, "co64");
  const r = reader(chunkBox);
  r.skip(4);
  const chunks = r.u32();
  const wide = chunkBox.type === "co64";
  if (r.left < chunks * (wide ? 8 : 4)) throw new DemuxError("CorruptMedia", "the MP4 chunk table is cut short");
  const chunkOffsets = Array.from({ length: chunks }, () => (wide ? r.u64() : r.u32()));
  const stsc = reader(child(stbl, "stsc"));
  stsc.skip(4);
  const entries = stsc.u32();
  const runsOf = [];
  for (let i = 0; i < entries && stsc.left >= 12; i++) {
    runsOf.push({ first: stsc.u32() - 1, perChunk: stsc.u32() });
    stsc.skip(4);
  }
  const offsets = new Array(count);
  let sample = 0;
  for (let e = 0; e < runsOf.length && sample < count; e++) {
    const last = e + 1 < runsOf.length ? runsOf[e + 1].first : chunks;
    for (let chunk = runsOf[e].first; chunk < last && sample < count; chunk++) {
      let at = chunkOffsets[chunk];
      for (let k = 0; k < runsOf[e].perChunk && sample < count; k++) {
        offsets[sample] = at;
        at += sizes[sample];
        sample++;
      }
    }
  }
  if (sample < count) throw new DemuxError("CorruptMedia", "the MP4 chunk table does not cover every frame");
  return offsets;
}

// Expand (count, value) runs of `stts` (durations) or `ctts` (composition offsets).
function runs(box, count, signed) {
  const values = new Array(count).fill(0);
  if (!box) return values;
  const r = reader(box);
  r.skip(4);
  const entries = r.u32();
  let i = 0;
  for (let e = 0; e < entries && r.left >= 8 && i < count; e++) {
    const repeat = r.u32();
    const value = signed ? r.i32() : r.u32();
    for (let k = 0; k < repeat && i < count; k++) values[i++] = value;
  }
  return values;
}

function readTrex(box) {
  const r = reader(box);
  r.skip(4);
  return { trackId: r.u32(), description: r.u32(), duration: r.u32(), size: r.u32(), flags: r.u32() };
}

// Samples of one movie fragment for the video track (ISO 14496-12 8.8: tfhd, tfdt, trun).
function fragmentSamples(fragment, moofOffset, track, trexes, room) {
  const samples = [];
  const trex = trexes.find((t) => t.trackId === track.trackId) ?? { duration: 0, size: 0, flags: 0 };
  for (const traf of fragment.filter((box) => box.type === "traf")) {
    const tfhd = reader(child(traf.children, "tfhd"));
    tfhd.skip(1);
    const flags = (tfhd.u8() << 16) | (tfhd.u8() << 8) | tfhd.u8();
    if (tfhd.u32() !== track.trackId) continue;
    const base = flags & 0x1 ? tfhd.u64() : moofOffset;
    if (flags & 0x2) tfhd.skip(4);
    const defaultDuration = flags & 0x8 ? tfhd.u32() : trex.duration;
    const defaultSize = flags & 0x10 ? tfhd.u32() : trex.size;
    const defaultFlags = flags & 0x20 ? tfhd.u32() : trex.flags;
    const tfdtBox = child(traf.children, "tfdt");
    let dts = 0;
    if (tfdtBox) {
      const tfdt = reader(tfdtBox);
      dts = tfdt.u8() === 1 ? (tfdt.skip(3), tfdt.u64()) : (tfdt.skip(3), tfdt.u32());
    }
    let next = base;
    for (const trun of traf.children.filter((box) => box.type === "trun")) {
      const r = reader(trun);
      const version = r.u8();
      const runFlags = (r.u8() << 16) | (r.u8() << 8) | r.u8();
      const count = r.u32();
      if (samples.length + count > room) throw new DemuxError("TooLarge", "the video has too many frames");
      let at = runFlags & 0x1 ? base + r.i32() : next;
      const firstFlags = runFlags & 0x4 ? r.u32() : null;
      for (let i = 0; i < count; i++) {
        const duration = runFlags & 0x100 ? r.u32() : defaultDuration;
        const size = runFlags & 0x200 ? r.u32() : defaultSize;
        const sampleFlags = runFlags & 0x400 ? r.u32() : i === 0 && firstFlags !== null ? firstFlags : defaultFlags;
        const offset = runFlags & 0x800 ? (version === 0 ? r.u32() : r.i32()) : 0;
        // sample_is_non_sync_sample is bit 16 of the sample flags.
        samples.push({ offset: at, size, pts: dts + offset, key: (sampleFlags & 0x10000) === 0, end: dts + duration });
        at += size;
        dts += duration;
      }
      next = at;
    }
  }
  return samples;
}

// FFmpeg's reading of an edit list (mov_fix_index) in the common cases: an optional empty edit
// (a delay) then one media segment. Frames before the segment's start are decoded but not shown,
// and times shift so that the segment starts after the delay. FFmpeg keeps frames past the
// segment's end up to the next key frame, so they are kept here too. Longer lists (rare: files
// cut in an editor without re-encoding) are read without edits.
function applyEdits(samples, edits, movieTimescale, timescale) {
  let delay = 0;
  let list = edits;
  if (list.length > 0 && list[0].mediaTime === -1) {
    delay = Math.round((list[0].duration * timescale) / movieTimescale);
    list = list.slice(1);
  }
  const start = list.length === 1 && list[0].mediaTime >= 0 ? list[0].mediaTime : 0;
  return samples.map((sample) => ({ ...sample, pts: sample.pts - start + delay, shown: sample.pts >= start }));
}

function multiply(a, b) {
  // 3x3 matrices as MP4 stores them (a b u / c d v / x y w), a*b; only the 2x2 part matters.
  const fixed = (value) => value / 65536;
  return [
    fixed(a[0]) * fixed(b[0]) + fixed(a[1]) * fixed(b[3]),
    fixed(a[0]) * fixed(b[1]) + fixed(a[1]) * fixed(b[4]),
    fixed(a[3]) * fixed(b[0]) + fixed(a[4]) * fixed(b[3]),
    fixed(a[3]) * fixed(b[1]) + fixed(a[4]) * fixed(b[4]),
  ];
}

// Counter-clockwise degrees of a display matrix, as FFmpeg's av_display_rotation_get and PyAV's
// VideoFrame.rotation give it (players turn the picture by this much).
function displayRotation([a, b, c, d]) {
  const scaleA = Math.hypot(a, c);
  const scaleB = Math.hypot(b, d);
  if (scaleA === 0 || scaleB === 0) return 0;
  return -(Math.atan2(b / scaleB, a / scaleA) * 180) / Math.PI;
}
