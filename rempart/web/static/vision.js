// OpenCV.js and the face cascade, loaded once per page or worker from this server (never from a
// CDN): /static/vendor/ is served by rempart/web/vendor.py from what `make` installed with npm.
// About 11 MB of script with its WebAssembly inline; loading takes about a second, so it happens
// on the first photo only.

/** The cascade file the Python side loads (rempart/signals/_faces.py CASCADE_FILE). */
export const CASCADE_FILE = "haarcascade_frontalface_alt2.xml";

const OPENCV_URL = new URL("./vendor/opencv.js", import.meta.url);
const CASCADE_URL = new URL(`./vendor/${CASCADE_FILE}`, import.meta.url);

let loading = null;

/**
 * OpenCV.js, ready, and a CascadeClassifier loaded with the face cascade.
 *
 * @returns {Promise<{cv: object, cascade: object}>} the same objects on every call; a failed load
 *   is retried on the next call
 * @throws {Error} the files are missing on the server (`npm ci` has not run) or do not load
 */
export function loadVision() {
  loading ??= load().catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

async function load() {
  const [module, xml] = await Promise.all([import(OPENCV_URL.href), fetchBytes(CASCADE_URL)]);
  const cv = module.default;
  // The Emscripten module is a thenable whose then() hands back itself: never await it or
  // resolve a promise with it, wait for its runtime instead.
  if (!cv.calledRun) await new Promise((resolve) => (cv.onRuntimeInitialized = resolve));
  cv.FS_createDataFile("/", CASCADE_FILE, xml, true, false, false);
  const cascade = new cv.CascadeClassifier();
  if (!cascade.load(CASCADE_FILE)) throw new Error(`OpenCV.js could not read ${CASCADE_FILE}`);
  return { cv, cascade };
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status} (${await response.text()})`);
  return new Uint8Array(await response.arrayBuffer());
}
