// Batch entry points for tests/web/test_regions_js.py: many files per page.evaluate.
import { hashImageFile } from "/static/hashing.js";
import { LAYOUT, faceBoxes } from "/static/regions.js";
import { loadVision } from "/static/vision.js";

// url -> {regions, ms} (ms: hashImageFile with regions, OpenCV.js already loaded), or
// {error: {type, message}} as `rempart hash` writes it.
async function signatures(urls) {
  await loadVision();
  const results = [];
  for (const url of urls) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const file = new File([await response.blob()], url.split("/").pop());
    try {
      const start = performance.now();
      const record = await hashImageFile(file, {}, { regions: true });
      results.push({ regions: record.regions, ms: performance.now() - start });
    } catch (error) {
      results.push({ error: { type: error.type ?? error.name, message: error.message } });
    }
  }
  return results;
}

// [{url, width, height}] of raw RGBA files -> the face boxes of each.
async function facesOfRaw(items) {
  const found = [];
  for (const item of items) {
    const bytes = new Uint8Array(await (await fetch(item.url)).arrayBuffer());
    found.push(await faceBoxes(bytes, item.width, item.height));
  }
  return found;
}

// Milliseconds to load OpenCV.js and the cascade (the first photo of a page pays it).
async function loadTime() {
  const start = performance.now();
  await loadVision();
  return performance.now() - start;
}

window.harness = { signatures, facesOfRaw, loadTime, layout: LAYOUT };
window.harnessReady = true;
