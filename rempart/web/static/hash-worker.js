// The module worker that fingerprints the files a page is given, one at a time, so the page stays
// responsive. It receives {id, file} and answers {id, kind, signals, facts} or {id, error}, after
// {id, progress} (0-1) messages while a long file (a video) is fingerprinted.
// Nothing here makes a request: the bytes never leave the device.
import { hasherFor } from "./media.js";

onmessage = async (event) => {
  const { id, file } = event.data;
  const hasher = hasherFor(file);
  try {
    const record = await hasher.hash(file, { onProgress: (progress) => postMessage({ id, progress }) });
    postMessage({ id, kind: hasher.name, signals: hasher.signals(record), facts: hasher.describe(record) });
  } catch (error) {
    postMessage({ id, error: { type: error.type ?? error.name, message: error.message } });
  }
};
