// Batch entry point for the Playwright video tests: hashes many URLs in one page.evaluate.
import { Md5 } from "/static/md5.js";
import { Sha256 } from "/static/sha256.js";
import { hashVideoFile, signalsOfVideoRecord } from "/static/video.js";

// url -> the record of hashVideoFile (with its signals, the milliseconds it took, and the size
// of its thumbnail in place of the Blob), or {error: {type, message}} as `rempart hash` writes
// it. `limits` overrides VIDEO_LIMITS.
async function hashVideos(urls, limits = {}) {
  const records = [];
  for (const url of urls) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const file = new File([await response.blob()], url.split("/").pop());
    const started = performance.now();
    try {
      const record = await hashVideoFile(file, { limits });
      const ms = performance.now() - started;
      const { thumbnail, ...rest } = record;
      records.push({ ...rest, signals: signalsOfVideoRecord(record), ms, thumbnail_bytes: thumbnail.size });
    } catch (error) {
      records.push({ path: file.name, error: { type: error.type ?? error.name, message: error.message } });
    }
  }
  return records;
}

// url -> {md5, sha256} of its bytes fed to the incremental digests in pieces of `pieces` bytes
// (cycled), as a video is read in slices.
async function digestInPieces(url, pieces) {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const md5 = new Md5();
  const sha256 = new Sha256();
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const piece = bytes.subarray(at, at + pieces[i % pieces.length]);
    md5.update(piece);
    sha256.update(piece);
    at += piece.length;
  }
  return { md5: md5.hex(), sha256: sha256.hex() };
}

window.videoHarness = { hashVideos, digestInPieces };
window.videoHarnessReady = true;
