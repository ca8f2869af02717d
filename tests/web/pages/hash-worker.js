// A dedicated module worker that hashes the File it is sent, as a page would to keep its UI
// responsive: hashImageFile needs no DOM.
import { hashImageFile } from "/static/hashing.js";

onmessage = async (event) => {
  try {
    postMessage(await hashImageFile(event.data));
  } catch (error) {
    postMessage({ error: { type: error.type ?? error.name, message: error.message } });
  }
};
