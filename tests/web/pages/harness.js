// Batch entry points for the Playwright tests: each takes many URLs and answers in one
// page.evaluate, so a few hundred images cost a few round trips, not a few hundred.
import { hashImageFile, signalsOfRecord } from "/static/hashing.js";
import { md5Hex } from "/static/md5.js";
import { pdqFromRGBA } from "/static/pdq.js";

async function fileAt(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const blob = await response.blob();
  return new File([blob], url.split("/").pop());
}

// url -> the record of hashImageFile, or {error: {type, message}} as `rempart hash` writes it.
async function hashFiles(urls) {
  const records = [];
  for (const url of urls) {
    const file = await fileAt(url);
    try {
      const record = await hashImageFile(file);
      records.push({ ...record, signals: signalsOfRecord(record) });
    } catch (error) {
      records.push({ path: file.name, error: { type: error.type ?? error.name, message: error.message } });
    }
  }
  return records;
}

// [{url, width, height}] of raw RGBA files -> [{hash, quality}] from pdqFromRGBA.
async function pdqOfRaw(items) {
  const results = [];
  for (const item of items) {
    const bytes = new Uint8Array(await (await fetch(item.url)).arrayBuffer());
    results.push(pdqFromRGBA(bytes, item.width, item.height));
  }
  return results;
}

// [url] -> MD5 hex of each file's bytes.
async function md5OfFiles(urls) {
  const digests = [];
  for (const url of urls) digests.push(md5Hex(await (await fetch(url)).arrayBuffer()));
  return digests;
}

window.harness = { hashFiles, pdqOfRaw, md5OfFiles };
window.harnessReady = true;
