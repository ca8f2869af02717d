// The module worker that fingerprints the files a page is given, one at a time, so the page stays
// responsive. It receives {id, file} and answers {id, kind, signals, facts} or {id, error}.
// Nothing here makes a request: the bytes never leave the device.
import { hasherFor } from "./media.js";

onmessage = async (event) => {
  const { id, file } = event.data;
  const hasher = hasherFor(file);
  try {
    const record = await hasher.hash(file);
    postMessage({ id, kind: hasher.name, signals: hasher.signals(record), facts: hasher.describe(record) });
  } catch (error) {
    postMessage({ id, error: { type: error.type ?? error.name, message: error.message } });
  }
};
